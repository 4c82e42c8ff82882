import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import { blockIp, collectionPath, createAction, expectGraphError, getJson, itemPath, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`GET /security/securityActions/{id} (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    for (const version of versions) {
      describe(version, () => {
        it('answers 200 with the entity as created, for ReadWrite and Read tokens', async () => {
          const tenant = svc.newTenant();
          const token = await svc.token({ tenant });
          const created = await createAction(svc, token, blockIp('203.0.113.20', { clientContext: 'get-me' }), version);
          for (const t of [token, await svc.token({ tenant, roles: readOnly })]) {
            const { res, body } = await getJson(svc, itemPath(created['id'], version), t);
            expect(res.status).toBe(200);
            expect(res.headers.get('content-type')).toMatch(/^application\/json/);
            expect(body['@odata.context']).toBe(`${svc.url}${version}/$metadata#security/securityActions/$entity`);
            expect(body['id']).toBe(created['id']);
            expect(body['name']).toBe('BlockIp');
            expect(body['clientContext']).toBe('get-me');
            expect(body['parameters']).toEqual([{ name: 'IP', value: '203.0.113.20' }]);
            expect(body['azureTenantId']).toBe(tenant);
            expect(body['createdDateTime']).toBe(created['createdDateTime']);
            expect(['NotStarted', 'Running', 'Completed', 'Failed']).toContain(body['status']);
            expect(body['states'].length).toBeGreaterThanOrEqual(1);
            expect(body['states'][0]).toEqual(created['states'][0]);
          }
        });

        it('finds the action whatever the case of its id', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, token, blockIp(), version);
          const { res, body } = await getJson(svc, itemPath(String(created['id']).toUpperCase(), version), token);
          expect(res.status).toBe(200);
          expect(body['id']).toBe(created['id']);
        });

        it('answers 404 for an unknown GUID and for ids that are not GUIDs', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          await createAction(svc, token, blockIp(), version);
          for (const id of ['00000000-0000-0000-0000-000000000000', crypto.randomUUID(), '1234567890', 'not-a-guid', 'x'.repeat(300)]) {
            const res = await svc.fetch(itemPath(id, version), { token });
            await expectGraphError(res, 404);
          }
        });

        it("answers 404 for another tenant's action, with the same body as an unknown id", async () => {
          const tokenA = await svc.token({ tenant: svc.newTenant() });
          const tokenB = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, tokenA, blockIp(), version);
          const foreign = await expectGraphError(await svc.fetch(itemPath(created['id'], version), { token: tokenB }), 404);
          const unknownId = crypto.randomUUID();
          const unknown = await expectGraphError(await svc.fetch(itemPath(unknownId, version), { token: tokenB }), 404);
          expect(foreign.code).toBe(unknown.code);
          expect(foreign.message.replace(created['id'], 'ID')).toBe(unknown.message.replace(unknownId, 'ID'));
        });

        it('supports $select (and select without the $)', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, token, blockIp('203.0.113.21', { clientContext: 'sel' }), version);
          for (const option of ['$select=name,clientContext', 'select=name,clientContext', '%24select=name,clientContext']) {
            const { res, body } = await getJson(svc, `${itemPath(created['id'], version)}?${option}`, token);
            expect(res.status, option).toBe(200);
            const { '@odata.context': _context, ...rest } = body;
            expect(rest).toEqual({ id: created['id'], name: 'BlockIp', clientContext: 'sel' });
          }
        });

        it('refuses an unknown $select property with 400 naming it', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, token, blockIp(), version);
          await expectGraphError(await svc.fetch(`${itemPath(created['id'], version)}?$select=nonsense`, { token }), 400, 'nonsense');
        });

        it('answers 401 without a token and 403 for a token without a role', async () => {
          const tenant = svc.newTenant();
          const created = await createAction(svc, await svc.token({ tenant }), blockIp(), version);
          const unauth = await svc.fetch(itemPath(created['id'], version));
          expect(unauth.headers.get('www-authenticate')).toMatch(/^Bearer/);
          await expectGraphError(unauth, 401);
          await expectGraphError(await svc.fetch(itemPath(created['id'], version), { token: await svc.token({ tenant, roles: [] }) }), 403);
          await expectGraphError(await svc.fetch(itemPath(created['id'], version), { token: await svc.token({ tenant, roles: ['Other.Role'] }) }), 403);
        });
      });
    }

    it('serves the same action under /beta and /v1.0', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const created = await createAction(svc, token, blockIp(), '/beta');
      const { body } = await getJson(svc, itemPath(created['id'], '/v1.0'), token);
      expect(body['id']).toBe(created['id']);
      expect(body['@odata.context']).toContain('/v1.0/$metadata');
      const { body: list } = await getJson(svc, collectionPath('/v1.0'), token);
      expect(list.value.map((a: { id: string }) => a.id)).toEqual([created['id']]);
    });
  });
}
