import { createPublicKey } from 'node:crypto';
import { base64url, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, readWrite, type TestService } from '../helpers/service.js';
import {
  blockIp, cancelPath, collectionPath, countOf, createAction, expectGraphError, itemPath, postJson, serviceSigningKey, signWithServiceKey,
  validClaims, versions, type Version, startApiService } from './support.js';

/** One request per securityActions operation, against `id` (an action of the token's tenant). */
function operations(svc: TestService, version: Version, id: string): Record<string, (token?: string) => Promise<Response>> {
  return {
    create: (token) => postJson(svc, collectionPath(version), token, blockIp()),
    get: (token) => svc.fetch(itemPath(id, version), token ? { token } : {}),
    list: (token) => svc.fetch(collectionPath(version), token ? { token } : {}),
    count: (token) => svc.fetch(`${collectionPath(version)}/$count`, token ? { token } : {}),
    cancel: (token) => svc.fetch(cancelPath(id, version), { method: 'POST', ...(token ? { token } : {}) }),
  };
}

for (const backend of backends()) {
  describe(`authentication and authorization (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    /** Tokens that must be refused with 401, each wrong in one respect only. */
    async function hostileTokens(tenant: string): Promise<Record<string, string | undefined>> {
      const now = Math.floor(Date.now() / 1000);
      const claims = validClaims(svc, tenant, readWrite);
      const { kid } = await serviceSigningKey(svc);
      const stranger = await generateKeyPair('RS256');
      const jwks = (await (await svc.fetch(`/${tenant}/discovery/v2.0/keys`)).json()) as { keys: Record<string, unknown>[] };
      const publicPem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      const unsigned = (header: object, payload: JWTPayload) =>
        `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.`;
      return {
        missing: undefined,
        'not a JWT': 'not-a-jwt',
        'three garbage segments': 'aaa.bbb.ccc',
        'truncated signature': (await signWithServiceKey(svc, claims)).slice(0, -10),
        expired: await signWithServiceKey(svc, { ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }),
        'not yet valid': await signWithServiceKey(svc, { ...claims, nbf: now + 3600, exp: now + 7200 }),
        'signed by another key (same kid)': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(stranger.privateKey),
        'signed by another key (own kid)': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'stranger', typ: 'JWT' }).sign(stranger.privateKey),
        'alg none': unsigned({ alg: 'none', typ: 'JWT' }, claims),
        'alg none with kid': unsigned({ alg: 'none', kid, typ: 'JWT' }, claims),
        'HS256 with the public key as secret': await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(new TextEncoder().encode(publicPem)),
        'wrong issuer (Entra ID)': await signWithServiceKey(svc, { ...claims, iss: `https://login.microsoftonline.com/${tenant}/v2.0` }),
        "another tenant's issuer": await signWithServiceKey(svc, { ...claims, iss: `${svc.url}/${svc.newTenant()}/v2.0` }),
        'wrong audience': await signWithServiceKey(svc, { ...claims, aud: 'https://graph.microsoft.com' }),
        'no exp': await signWithServiceKey(svc, { ...claims, exp: undefined }),
      };
    }

    for (const version of versions) {
      it(`${version}: every operation answers 401 with WWW-Authenticate: Bearer to missing, malformed and invalid tokens`, async () => {
        const tenant = svc.newTenant();
        const good = await svc.token({ tenant });
        const action = await createAction(svc, good);
        const tokens = await hostileTokens(tenant);
        for (const [label, token] of Object.entries(tokens)) {
          for (const [operation, call] of Object.entries(operations(svc, version, action['id']))) {
            const res = await call(token);
            expect(res.status, `${label} on ${operation}`).toBe(401);
            expect(res.headers.get('www-authenticate'), `${label} on ${operation}`).toMatch(/^Bearer( |$)/);
            await expectGraphError(res, 401);
          }
        }
        // Nothing was created or cancelled by any of them.
        expect(await countOf(svc, good)).toBe(1);
        const got = (await (await svc.fetch(itemPath(action['id']), { token: good })).json()) as Record<string, unknown>;
        expect(got['cancelledDateTime']).toBeNull();
      });
    }

    it('refuses the Authorization header in other schemes with 401', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      for (const header of [`Basic ${Buffer.from('a:b').toString('base64')}`, `Token ${token}`, 'Bearer', `Bearer ${token} extra`]) {
        const res = await svc.fetch(collectionPath(), { headers: { authorization: header } });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        await expectGraphError(res, 401);
      }
    });

    it('accepts the scheme name case-insensitively', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const res = await svc.fetch(collectionPath(), { headers: { authorization: `bearer ${token}` } });
      expect(res.status).toBe(200);
    });

    it('a token minted with the service key for the right issuer and audience is accepted (control for the 401 cases)', async () => {
      const tenant = svc.newTenant();
      const token = await signWithServiceKey(svc, validClaims(svc, tenant, readWrite));
      const created = await createAction(svc, token);
      expect(created['appId']).toBe('hostile-test-app');
      expect(created['azureTenantId']).toBe(tenant);
    });

    for (const version of versions) {
      it(`${version}: Read.All may get, list and count but not create or cancel (403)`, async () => {
        const tenant = svc.newTenant();
        const writer = await svc.token({ tenant });
        const action = await createAction(svc, writer);
        const reader = await svc.token({ tenant, roles: readOnly });
        const ops = operations(svc, version, action['id']);
        for (const op of ['get', 'list', 'count'] as const) expect((await ops[op]!(reader)).status, op).toBe(200);
        for (const op of ['create', 'cancel'] as const) await expectGraphError(await ops[op]!(reader), 403);
        expect(await countOf(svc, writer)).toBe(1);
      });

      it(`${version}: a token without a securityActions role gets 403 on every operation`, async () => {
        const tenant = svc.newTenant();
        const action = await createAction(svc, await svc.token({ tenant }));
        for (const roles of [[], ['User.Read.All'], ['securityactions.readwrite.all']]) {
          const token = await svc.token({ tenant, roles });
          for (const [op, call] of Object.entries(operations(svc, version, action['id']))) {
            const res = await call(token);
            expect(res.status, `${JSON.stringify(roles)} ${op}`).toBe(403);
            await expectGraphError(res, 403);
          }
        }
      });

      it(`${version}: a delegated token (scp, no roles) gets 403 on every operation`, async () => {
        const tenant = svc.newTenant();
        const action = await createAction(svc, await svc.token({ tenant }));
        const { roles: _roles, ...rest } = validClaims(svc, tenant, []);
        const delegated = await signWithServiceKey(svc, { ...rest, scp: 'SecurityActions.ReadWrite.All SecurityActions.Read.All', upn: 'user@contoso.example' });
        for (const [op, call] of Object.entries(operations(svc, version, action['id']))) {
          const res = await call(delegated);
          expect(res.status, op).toBe(403);
          await expectGraphError(res, 403);
        }
      });
    }

    it('ReadWrite.All may do everything', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant, roles: readWrite });
      const action = await createAction(svc, token);
      const ops = operations(svc, '/beta', action['id']);
      for (const op of ['get', 'list', 'count', 'cancel'] as const) expect((await ops[op]!(token)).status, op).toBe(200);
      expect((await ops.create!(token)).status).toBe(201);
    });
  });
}
