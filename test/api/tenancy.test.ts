import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import { blockIp, cancelPath, collectionPath, countOf, createAction, expectGraphError, getJson, itemPath, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`tenant isolation (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    for (const version of versions) {
      it(`${version}: tenant B gets 404 for tenant A's action on get and cancel, and A's action is untouched`, async () => {
        const a = await svc.token({ tenant: svc.newTenant() });
        const tenantB = svc.newTenant();
        const b = await svc.token({ tenant: tenantB });
        const action = await createAction(svc, a, blockIp(), version);
        await expectGraphError(await svc.fetch(itemPath(action['id'], version), { token: b }), 404);
        await expectGraphError(await svc.fetch(itemPath(action['id'], version), { token: await svc.token({ tenant: tenantB, roles: readOnly }) }), 404);
        await expectGraphError(await svc.fetch(`${itemPath(action['id'], version)}?$select=id`, { token: b }), 404);
        await expectGraphError(await svc.fetch(cancelPath(action['id'], version), { method: 'POST', token: b }), 404);
        const { body } = await getJson(svc, itemPath(action['id'], version), a);
        expect(body['cancelledDateTime']).toBeNull();
        expect(body['azureTenantId']).not.toBe(tenantB);
      });

      it(`${version}: tenant B never sees tenant A's actions in a list or $count, even filtering on their id`, async () => {
        const a = await svc.token({ tenant: svc.newTenant() });
        const b = await svc.token({ tenant: svc.newTenant() });
        const mineA = await createAction(svc, a, blockIp('203.0.113.30', { clientContext: 'shared-ctx' }), version);
        const mineB = await createAction(svc, b, blockIp('203.0.113.30', { clientContext: 'shared-ctx' }), version);
        const id = mineA['id'] as string;
        const filters = [
          `id eq '${id}'`,
          `id in ('${id}', '${mineB['id']}')`,
          `startswith(id,'${id.slice(0, 8)}')`,
          `clientContext eq 'shared-ctx'`,
          `parameters/any(p: p/value eq '203.0.113.30')`,
          `id eq '${id}' or id ne '${id}'`,
          `azureTenantId ne 'x'`,
        ];
        for (const filter of filters) {
          const { res, body } = await getJson(svc, `${collectionPath(version)}?$count=true&$filter=${encodeURIComponent(filter)}`, b);
          if (res.status !== 200) {
            // a property that is not filterable is refused, never answered with A's data
            expect(res.status, filter).toBe(400);
            continue;
          }
          const ids = body.value.map((x: { id: string }) => x.id);
          expect(ids, filter).not.toContain(id);
          expect(body['@odata.count'], filter).toBe(ids.length);
          const countRes = await svc.fetch(`${collectionPath(version)}/$count?$filter=${encodeURIComponent(filter)}`, { token: b });
          expect(Number(await countRes.text()), filter).toBe(ids.length);
        }
        const { body: all } = await getJson(svc, collectionPath(version), b);
        expect(all.value.map((x: { id: string }) => x.id)).toEqual([mineB['id']]);
        expect(await countOf(svc, b)).toBe(1);
        expect(await countOf(svc, b, `id eq '${id}'`)).toBe(0);
        expect(await countOf(svc, a, `id eq '${id}'`)).toBe(1);
      });
    }

    it('a tenant id that differs only in case is another tenant', async () => {
      const tenant = `Tenant-${crypto.randomUUID().slice(0, 8)}`;
      const upper = await svc.token({ tenant });
      const lower = await svc.token({ tenant: tenant.toLowerCase() });
      const action = await createAction(svc, upper);
      await expectGraphError(await svc.fetch(itemPath(action['id']), { token: lower }), 404);
      expect(await countOf(svc, lower)).toBe(0);
    });

    it('a skiptoken from tenant A does not reveal A\'s actions to tenant B', async () => {
      const a = await svc.token({ tenant: svc.newTenant() });
      const b = await svc.token({ tenant: svc.newTenant() });
      await Promise.all([1, 2, 3, 4].map(() => createAction(svc, a)));
      const { body } = await getJson(svc, `${collectionPath()}?$top=2`, a);
      const next = new URL(body['@odata.nextLink']);
      const res = await fetch(next, { headers: { authorization: `Bearer ${b}` } });
      const text = await res.text();
      if (res.status === 200) expect(JSON.parse(text).value).toEqual([]);
      else expect(res.status).toBe(400);
    });
  });
}
