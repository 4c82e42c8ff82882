import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import { collectionPath, createAction, createMany, expectGraphError, getJson, versions, type Version, startApiService } from './support.js';

const total = 250;
const pad = (i: number) => String(i).padStart(3, '0');

/** Action i: every third a BlockDomain, the rest BlockIp; clientContext `page-NNN` orders them. */
function bodyFor(i: number): Record<string, unknown> {
  return i % 3 === 0
    ? { name: 'BlockDomain', clientContext: `page-${pad(i)}`, parameters: [{ name: 'Domain', value: `d${i}.list.example` }] }
    : { name: 'BlockIp', clientContext: `page-${pad(i)}`, parameters: [{ name: 'IP', value: `198.19.${Math.floor(i / 200)}.${(i % 200) + 1}` }] };
}

/** Follows @odata.nextLink to the end; returns every page body. */
async function allPages(svc: TestService, token: string, first: string): Promise<any[]> {
  const pages: any[] = [];
  let url: string | undefined = `${svc.url}${first}`;
  while (url) {
    expect(pages.length).toBeLessThan(200);
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    pages.push(body);
    url = body['@odata.nextLink'];
  }
  return pages;
}

const ids = (pages: any[]) => pages.flatMap((p) => p.value.map((a: { id: string }) => a.id));

for (const backend of backends()) {
  describe(`GET /security/securityActions (${backend.name})`, () => {
    let svc: TestService;
    /** One tenant holding `total` actions, shared by the read-only paging tests below. */
    let token: string;
    let created: Record<string, any>[];
    beforeAll(async () => {
      svc = await startApiService({ backend });
      token = await svc.token({ tenant: svc.newTenant() });
      created = await createMany(svc, token, total, bodyFor);
    });
    afterAll(async () => svc?.close());

    const byContext = (predicate: (ctx: string, a: Record<string, any>) => boolean) => created.filter((a) => predicate(a['clientContext'], a));

    for (const version of versions) {
      describe(version, () => {
        it('pages by 100 by default with an absolute nextLink; following it returns every action exactly once', async () => {
          const pages = await allPages(svc, token, collectionPath(version));
          expect(pages.map((p) => p.value.length)).toEqual([100, 100, 50]);
          for (const p of pages) expect(p['@odata.context']).toBe(`${svc.url}${version}/$metadata#security/securityActions`);
          for (const p of pages.slice(0, -1)) {
            const link = new URL(p['@odata.nextLink']);
            expect(p['@odata.nextLink'].startsWith(`${svc.url}${version}/security/securityActions?`)).toBe(true);
            expect([...link.searchParams.keys()].some((k) => /^\$?skiptoken$/i.test(k))).toBe(true);
          }
          expect(pages.at(-1)['@odata.nextLink']).toBeUndefined();
          const seen = ids(pages);
          expect(seen).toHaveLength(total);
          expect(new Set(seen).size).toBe(total);
          expect(new Set(seen)).toEqual(new Set(created.map((a) => a['id'])));
        });

        it('$top=7 with $filter and $orderby: every page keeps the options, the result is exact and ordered', async () => {
          const filter = "startswith(clientContext,'page-1') and name eq 'BlockIp'";
          const expected = byContext((c, a) => c.startsWith('page-1') && a['name'] === 'BlockIp')
            .sort((a, b) => (a['clientContext'] < b['clientContext'] ? 1 : -1))
            .map((a) => a['id']);
          expect(expected.length).toBeGreaterThan(50);
          const pages = await allPages(svc, token, `${collectionPath(version)}?$top=7&$filter=${encodeURIComponent(filter)}&$orderby=${encodeURIComponent('clientContext desc')}&$count=true`);
          expect(pages.length).toBe(Math.ceil(expected.length / 7));
          for (const p of pages) {
            expect(p.value.length).toBeLessThanOrEqual(7);
            expect(p['@odata.count']).toBe(expected.length);
          }
          for (const p of pages.slice(0, -1)) {
            const link = new URL(p['@odata.nextLink']);
            expect(link.searchParams.get('$filter')).toBe(filter);
            expect(link.searchParams.get('$orderby')).toBe('clientContext desc');
            expect(link.searchParams.get('$top')).toBe('7');
          }
          expect(ids(pages)).toEqual(expected);
        });

        it('accepts the options without the $ prefix', async () => {
          const expected = byContext((c) => c >= 'page-200')
            .sort((a, b) => (a['clientContext'] < b['clientContext'] ? -1 : 1))
            .map((a) => a['id']);
          const pages = await allPages(svc, token, `${collectionPath(version)}?top=20&filter=${encodeURIComponent("clientContext ge 'page-200'")}&orderby=clientContext&count=true`);
          expect(pages[0]['@odata.count']).toBe(50);
          expect(pages.map((p) => p.value.length)).toEqual([20, 20, 10]);
          expect(ids(pages)).toEqual(expected);
          const selected = await getJson(svc, `${collectionPath(version)}?select=clientContext&top=1&orderby=clientContext`, token);
          expect(selected.body.value).toEqual([{ id: byContext((c) => c === 'page-000')[0]!['id'], clientContext: 'page-000' }]);
        });

        it('adds @odata.count with $count=true and not otherwise', async () => {
          const { body } = await getJson(svc, `${collectionPath(version)}?$count=true`, token);
          expect(body['@odata.count']).toBe(total);
          expect(typeof body['@odata.count']).toBe('number');
          expect(body.value).toHaveLength(100);
          const { body: filtered } = await getJson(svc, `${collectionPath(version)}?$count=true&$filter=${encodeURIComponent("name eq 'BlockDomain'")}`, token);
          expect(filtered['@odata.count']).toBe(byContext((_c, a) => a['name'] === 'BlockDomain').length);
          const { body: without } = await getJson(svc, collectionPath(version), token);
          expect('@odata.count' in without).toBe(false);
          const { body: off } = await getJson(svc, `${collectionPath(version)}?$count=false`, token);
          expect('@odata.count' in off).toBe(false);
        });

        it('$top is bounded: 1000 allowed, 1001 and malformed values answer 400', async () => {
          const { res, body } = await getJson(svc, `${collectionPath(version)}?$top=1000`, token);
          expect(res.status).toBe(200);
          expect(body.value).toHaveLength(total);
          expect(body['@odata.nextLink']).toBeUndefined();
          for (const top of ['1001', '-1', 'abc', '1.5']) {
            await expectGraphError(await svc.fetch(`${collectionPath(version)}?$top=${top}`, { token }), 400);
          }
          await expectGraphError(await svc.fetch(`${collectionPath(version)}?top=5000`, { token }), 400, '1000');
        });
      });
    }

    it('$skip skips, combined with $orderby', async () => {
      const { body } = await getJson(svc, `${collectionPath()}?$orderby=clientContext&$skip=245`, token);
      expect(body.value.map((a: any) => a.clientContext)).toEqual(['page-245', 'page-246', 'page-247', 'page-248', 'page-249']);
    });

    it('$select returns only the selected properties plus id, and says so in @odata.context', async () => {
      const { body } = await getJson(svc, `${collectionPath()}?$select=name,status&$top=3`, token);
      expect(body['@odata.context']).toBe(`${svc.url}/beta/$metadata#security/securityActions(name,status)`);
      expect(body.value).toHaveLength(3);
      for (const a of body.value) expect(Object.keys(a).sort()).toEqual(['id', 'name', 'status']);
    });

    it('filters on parameters with the any() lambda', async () => {
      const target = created[7]!;
      const ip = target['parameters'][0].value as string;
      const filter = `parameters/any(p: p/name eq 'IP' and p/value eq '${ip}')`;
      const { res, body } = await getJson(svc, `${collectionPath()}?$filter=${encodeURIComponent(filter)}`, token);
      expect(res.status).toBe(200);
      expect(body.value.map((a: any) => a.id)).toEqual([target['id']]);
    });

    it('orders by several keys with a stable tiebreak', async () => {
      const pages = await allPages(svc, token, `${collectionPath()}?$orderby=${encodeURIComponent('name desc,clientContext asc')}&$top=33`);
      const got = pages.flatMap((p) => p.value.map((a: any) => `${a.name}|${a.clientContext}`));
      const expected = created
        .map((a) => `${a['name']}|${a['clientContext']}`)
        .sort((x, y) => {
          const [nx, cx] = x.split('|') as [string, string];
          const [ny, cy] = y.split('|') as [string, string];
          return nx === ny ? (cx < cy ? -1 : 1) : nx < ny ? 1 : -1;
        });
      expect(got).toEqual(expected);
    });

    it('answers 400 naming the term for an unknown property or malformed $filter/$orderby', async () => {
      await expectGraphError(await svc.fetch(`${collectionPath()}?$filter=${encodeURIComponent("nonsense eq 'x'")}`, { token }), 400, 'nonsense');
      await expectGraphError(await svc.fetch(`${collectionPath()}?$orderby=${encodeURIComponent('bogus desc')}`, { token }), 400, 'bogus');
      await expectGraphError(await svc.fetch(`${collectionPath()}?$filter=${encodeURIComponent("name eq")}`, { token }), 400);
      await expectGraphError(await svc.fetch(`${collectionPath()}?$expand=states`, { token }), 400);
      await expectGraphError(await svc.fetch(`${collectionPath()}?$unknown=1`, { token }), 400, '$unknown');
    });

    it('refuses a tampered or foreign $skiptoken with 400', async () => {
      const { body } = await getJson(svc, `${collectionPath()}?$top=5`, token);
      const link = new URL(body['@odata.nextLink']);
      const skiptoken = link.searchParams.get('$skiptoken')!;
      await expectGraphError(await svc.fetch(`${collectionPath()}?$top=5&$skiptoken=${skiptoken.slice(0, -2)}xx`, { token }), 400);
      await expectGraphError(await svc.fetch(`${collectionPath()}?$top=5&$skiptoken=not-a-token`, { token }), 400);
      // a token issued for one filter replayed with another
      await expectGraphError(await svc.fetch(`${collectionPath()}?$top=5&$filter=${encodeURIComponent("name eq 'BlockIp'")}&$skiptoken=${skiptoken}`, { token }), 400);
    });

    it('answers an empty collection for a tenant without actions, to a read-only token', async () => {
      const ro = await svc.token({ tenant: svc.newTenant(), roles: readOnly });
      const { res, body } = await getJson(svc, `${collectionPath()}?$count=true`, ro);
      expect(res.status).toBe(200);
      expect(body).toEqual({ '@odata.context': `${svc.url}/beta/$metadata#security/securityActions`, '@odata.count': 0, value: [] });
    });

    it('lists newly created actions of the caller only (fresh tenant)', async () => {
      const own = await svc.token({ tenant: svc.newTenant() });
      const a = await createAction(svc, own);
      const b = await createAction(svc, own, undefined, '/v1.0' as Version);
      const { body } = await getJson(svc, collectionPath(), own);
      expect(body.value.map((x: any) => x.id).sort()).toEqual([a['id'], b['id']].sort());
    });
  });
}
