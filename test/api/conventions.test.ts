import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import type { TestService } from '../helpers/service.js';
import { blockIp, cancelPath, collectionPath, createAction, expectGraphError, guidPattern, itemPath, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`Graph conventions (${backend.name})`, () => {
    let svc: TestService;
    let token: string;
    let tenant: string;
    let actionId: string;
    beforeAll(async () => {
      svc = await startApiService({ backend });
      tenant = svc.newTenant();
      token = await svc.token({ tenant });
      actionId = (await createAction(svc, token))['id'];
    });
    afterAll(async () => svc?.close());

    /** Every kind of response the service gives: success, each error status, identity endpoints, health. */
    const requests = (): [string, string, RequestInit & { token?: string }][] => [
      ['create 201', collectionPath(), { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(blockIp()) }],
      ['get 200', itemPath(actionId), { token }],
      ['list 200', collectionPath('/v1.0'), { token }],
      ['count 200', `${collectionPath()}/$count`, { token }],
      ['cancel 200', cancelPath(actionId), { method: 'POST', token }],
      ['get 404', itemPath(crypto.randomUUID()), { token }],
      ['unknown path 404', '/beta/security/nothingHere', { token }],
      ['401', collectionPath(), {}],
      ['403', collectionPath(), { method: 'POST', token: 'placeholder-readonly', headers: { 'content-type': 'application/json' }, body: JSON.stringify(blockIp()) }],
      ['405', itemPath(actionId), { method: 'DELETE', token }],
      ['400', `${collectionPath()}?$top=abc`, { token }],
      ['415', collectionPath(), { method: 'POST', token, headers: { 'content-type': 'text/plain' }, body: 'x' }],
      ['token endpoint 401', `/${tenant}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=x&client_secret=y&scope=api%3A%2F%2Fbulwark%2F.default' }],
      ['jwks 200', `/${tenant}/discovery/v2.0/keys`, {}],
      ['healthz 200', '/healthz', {}],
    ];

    async function send(init: RequestInit & { token?: string }, path: string): Promise<Response> {
      const real = init.token === 'placeholder-readonly' ? { ...init, token: await svc.token({ tenant, roles: ['SecurityActions.Read.All'] }) } : init;
      return svc.fetch(path, real);
    }

    it('every response carries request-id and client-request-id; client-request-id is echoed when sent', async () => {
      const seen = new Set<string>();
      for (const [label, path, init] of requests()) {
        const clientRequestId = crypto.randomUUID();
        const echoed = await send({ ...init, headers: { ...(init.headers as Record<string, string>), 'client-request-id': clientRequestId } }, path);
        await echoed.arrayBuffer();
        expect(echoed.headers.get('request-id'), label).toMatch(guidPattern);
        expect(echoed.headers.get('client-request-id'), label).toBe(clientRequestId);
        seen.add(echoed.headers.get('request-id')!);

        const generated = await send(init, path);
        await generated.arrayBuffer();
        const requestId = generated.headers.get('request-id');
        expect(requestId, label).toMatch(guidPattern);
        expect(generated.headers.get('client-request-id'), label).toBeTruthy();
        expect(generated.headers.get('client-request-id'), label).toBe(requestId);
        seen.add(requestId!);
      }
      // request ids are unique per request
      expect(seen.size).toBe(requests().length * 2);
    });

    it('error bodies echo the ids in innerError and JSON bodies are application/json', async () => {
      for (const [label, path, init] of requests()) {
        const clientRequestId = `kiota-${crypto.randomUUID()}`;
        const res = await send({ ...init, headers: { ...(init.headers as Record<string, string>), 'client-request-id': clientRequestId } }, path);
        if (label === 'cancel 200') {
          expect(res.headers.get('content-type')).toBeNull();
          continue;
        }
        if (label === 'count 200') {
          expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
          continue;
        }
        expect(res.headers.get('content-type'), label).toMatch(/^application\/json/);
        if (res.status >= 400 && !label.startsWith('token endpoint')) {
          const error = await expectGraphError(res, res.status);
          expect(error.innerError['client-request-id']).toBe(clientRequestId);
        } else {
          JSON.parse(await res.text());
        }
      }
    });

    for (const version of versions) {
      it(`${version}: unknown paths answer 404 in Graph's envelope`, async () => {
        const paths = [
          `${version}/security/nothingHere`,
          `${version}/security/securityActions/${actionId}/nope`,
          `${version}/security/securityActions/${actionId}/cancelSecurityAction/extra`,
          `${version}/security/securityActions/${actionId}/microsoft.graph.somethingElse`,
          `${version}/me`,
          '/v2.0/security/securityActions',
          '/',
          '/does/not/exist?$filter=x',
        ];
        for (const path of paths) {
          await expectGraphError(await svc.fetch(path, { token }), 404);
          await expectGraphError(await svc.fetch(path, { token, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 404);
        }
      });

      it(`${version}: wrong methods answer 405 with Allow in Graph's envelope, and change nothing`, async () => {
        const cases: [string, string, string[]][] = [
          ['PATCH', itemPath(actionId, version), ['GET']],
          ['DELETE', itemPath(actionId, version), ['GET']],
          ['PUT', itemPath(actionId, version), ['GET']],
          ['POST', itemPath(actionId, version), ['GET']],
          ['DELETE', collectionPath(version), ['GET', 'POST']],
          ['PUT', collectionPath(version), ['GET', 'POST']],
          ['PATCH', collectionPath(version), ['GET', 'POST']],
          ['GET', cancelPath(actionId, version), ['POST']],
          ['DELETE', cancelPath(actionId, version), ['POST']],
        ];
        for (const [method, path, allowed] of cases) {
          const res = await svc.fetch(path, { method, token, headers: { 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{"status":"Completed"}' }) });
          const allow = (res.headers.get('allow') ?? '').split(',').map((s) => s.trim());
          await expectGraphError(res, 405);
          for (const m of allowed) expect(allow, `${method} ${path}`).toContain(m);
          expect(allow, `${method} ${path}`).not.toContain(method);
        }
        const got = (await (await svc.fetch(itemPath(actionId, version), { token })).json()) as Record<string, unknown>;
        expect(got['id']).toBe(actionId);
      });
    }

    it('the collection answers 405 on DELETE even without a token (the method is wrong whoever asks)', async () => {
      await expectGraphError(await svc.fetch(collectionPath(), { method: 'DELETE' }), 405);
    });
  });
}
