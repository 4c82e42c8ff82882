import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import { blockIp, cancelPath, createAction, expectGraphError, getJson, isoUtcPattern, itemPath, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`POST /security/securityActions/{id}/cancelSecurityAction (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    /** 200, an empty body and no Content-Type. */
    async function expectEmpty200(res: Response): Promise<void> {
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(text).toBe('');
      expect(res.headers.get('content-type')).toBeNull();
      expect(res.headers.get('request-id')).toBeTruthy();
    }

    for (const version of versions) {
      describe(version, () => {
        const bodies: [string, RequestInit][] = [
          ['no body', {}],
          ['{} with a JSON content type', { headers: { 'content-type': 'application/json' }, body: '{}' }],
          ['an empty body with a JSON content type', { headers: { 'content-type': 'application/json' }, body: '' }],
          ['{} with charset', { headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{ }' }],
        ];
        for (const [label, init] of bodies) {
          it(`answers 200 with an empty body and no Content-Type for ${label}; records a state and cancelledDateTime`, async () => {
            const token = await svc.token({ tenant: svc.newTenant(), app: 'canceller', user: 'analyst@contoso.example' });
            const created = await createAction(svc, token, blockIp(), version);
            const before = Date.now();
            await expectEmpty200(await svc.fetch(cancelPath(created['id'], version), { method: 'POST', token, ...init }));
            const { body } = await getJson(svc, itemPath(created['id'], version), token);
            expect(body['cancelledDateTime']).toMatch(isoUtcPattern);
            expect(Date.parse(body['cancelledDateTime'])).toBeGreaterThanOrEqual(before - 5);
            expect(body['states'][0]).toEqual(created['states'][0]);
            // The engine may interleave its own entries (appId null); the caller's entries are the
            // creation and the cancel.
            const mine = body['states'].filter((s: any) => s.appId === 'canceller');
            expect(mine).toHaveLength(2);
            const cancelState = mine[1];
            expect(cancelState).toMatchObject({ appId: 'canceller', user: 'analyst@contoso.example' });
            expect(['NotStarted', 'Running', 'Completed', 'Failed']).toContain(cancelState.status);
            expect(cancelState.updatedDateTime).toMatch(isoUtcPattern);
            expect(Date.parse(cancelState.updatedDateTime)).toBeGreaterThanOrEqual(before - 5);
            expect(Date.parse(body['lastActionDateTime'])).toBeGreaterThanOrEqual(Date.parse(created['lastActionDateTime']));
          });
        }

        it('cancelling twice is a no-op 200: the cancel state and cancelledDateTime are not repeated', async () => {
          const token = await svc.token({ tenant: svc.newTenant(), app: 'twice' });
          const created = await createAction(svc, token, blockIp(), version);
          await expectEmpty200(await svc.fetch(cancelPath(created['id'], version), { method: 'POST', token }));
          const { body: once } = await getJson(svc, itemPath(created['id'], version), token);
          await expectEmpty200(await svc.fetch(cancelPath(created['id'], version), { method: 'POST', token }));
          await expectEmpty200(await svc.fetch(cancelPath(created['id'], version), { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: '{}' }));
          const { body: thrice } = await getJson(svc, itemPath(created['id'], version), token);
          expect(thrice['cancelledDateTime']).toBe(once['cancelledDateTime']);
          // States written on behalf of the caller (the cancel) appear once; an engine may add its own.
          const byCaller = (b: any) => b['states'].filter((s: any) => s.appId === 'twice').length;
          expect(byCaller(once)).toBe(2);
          expect(byCaller(thrice)).toBe(2);
        });

        it('answers 404 for an unknown id, a non-GUID id and another tenant\'s action', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          await expectGraphError(await svc.fetch(cancelPath(crypto.randomUUID(), version), { method: 'POST', token }), 404);
          await expectGraphError(await svc.fetch(cancelPath('not-a-guid', version), { method: 'POST', token }), 404);
          const other = await createAction(svc, await svc.token({ tenant: svc.newTenant() }), blockIp(), version);
          await expectGraphError(await svc.fetch(cancelPath(other['id'], version), { method: 'POST', token }), 404);
        });

        it('answers 403 to a read-only token and 401 without a token; the action stays uncancelled', async () => {
          const tenant = svc.newTenant();
          const token = await svc.token({ tenant });
          const created = await createAction(svc, token, blockIp(), version);
          await expectGraphError(await svc.fetch(cancelPath(created['id'], version), { method: 'POST', token: await svc.token({ tenant, roles: readOnly }) }), 403);
          const unauth = await svc.fetch(cancelPath(created['id'], version), { method: 'POST' });
          expect(unauth.headers.get('www-authenticate')).toMatch(/^Bearer/);
          await expectGraphError(unauth, 401);
          const { body } = await getJson(svc, itemPath(created['id'], version), token);
          expect(body['cancelledDateTime']).toBeNull();
          expect(body['states'].filter((s: any) => s.appId === 'test-app')).toHaveLength(1);
        });

        it('refuses a non-empty body with 400 and a non-JSON body with 415; nothing is cancelled', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, token, blockIp(), version);
          const path = cancelPath(created['id'], version);
          await expectGraphError(await svc.fetch(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: '{"reason":"x"}' }), 400);
          await expectGraphError(await svc.fetch(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: '[]' }), 400);
          await expectGraphError(await svc.fetch(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: '{' }), 400);
          await expectGraphError(await svc.fetch(path, { method: 'POST', token, headers: { 'content-type': 'text/plain' }, body: 'cancel' }), 415);
          const { body } = await getJson(svc, itemPath(created['id'], version), token);
          expect(body['cancelledDateTime']).toBeNull();
        });
      });
    }
  });
}
