import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import { blockIp, collectionPath, createMany, expectGraphError, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`GET /security/securityActions/$count (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    async function countText(path: string, token: string): Promise<Response> {
      return svc.fetch(path, { token, headers: { accept: 'text/plain' } });
    }

    for (const version of versions) {
      describe(version, () => {
        it('answers text/plain with the integer count, honouring $filter, also as %24count', async () => {
          const tenant = svc.newTenant();
          const token = await svc.token({ tenant });
          await createMany(svc, token, 12, (i) => blockIp(undefined, { clientContext: i < 5 ? 'five' : 'seven' }));
          const res = await countText(`${collectionPath(version)}/$count`, token);
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
          expect(await res.text()).toBe('12');

          const filtered = await countText(`${collectionPath(version)}/$count?$filter=${encodeURIComponent("clientContext eq 'five'")}`, token);
          expect(await filtered.text()).toBe('5');
          const bare = await countText(`${collectionPath(version)}/$count?filter=${encodeURIComponent("clientContext ne 'five'")}`, token);
          expect(await bare.text()).toBe('7');

          const encoded = await countText(`${collectionPath(version)}/%24count`, token);
          expect(encoded.status).toBe(200);
          expect(encoded.headers.get('content-type')).toMatch(/^text\/plain/);
          expect(await encoded.text()).toBe('12');
          const encodedFiltered = await countText(`${collectionPath(version)}/%24count?%24filter=${encodeURIComponent("clientContext eq 'seven'")}`, token);
          expect(await encodedFiltered.text()).toBe('7');
        });

        it('answers 0 for a tenant without actions and accepts a read-only token', async () => {
          const res = await countText(`${collectionPath(version)}/$count`, await svc.token({ tenant: svc.newTenant(), roles: readOnly }));
          expect(res.status).toBe(200);
          expect(await res.text()).toBe('0');
        });

        it('answers 400 for a malformed $filter and for options $count does not take', async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          await expectGraphError(await svc.fetch(`${collectionPath(version)}/$count?$filter=${encodeURIComponent('status eq')}`, { token }), 400);
          await expectGraphError(await svc.fetch(`${collectionPath(version)}/$count?$filter=${encodeURIComponent("bogus eq 'x'")}`, { token }), 400, 'bogus');
          await expectGraphError(await svc.fetch(`${collectionPath(version)}/$count?$top=5`, { token }), 400);
        });

        it('answers 401 without a token and 403 without a role, in Graph\'s JSON envelope', async () => {
          const res = await svc.fetch(`${collectionPath(version)}/$count`);
          expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
          await expectGraphError(res, 401);
          await expectGraphError(await svc.fetch(`${collectionPath(version)}/$count`, { token: await svc.token({ tenant: svc.newTenant(), roles: [] }) }), 403);
        });
      });
    }
  });
}
