import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseCache } from '../../src/http/response-cache.js';
import { loadConfig } from '../../src/config/load.js';
import { startService } from '../../src/main.js';
import { backends, sqliteBackend } from '../helpers/backends.js';
import { readOnly, startTestService, type TestService } from '../helpers/service.js';
import { blockIp, cancelPath, collectionPath, createAction, createMany, expectGraphError, postJson } from './support.js';

/**
 * The list cache (http/response-cache.ts, decision 0016): answers repeat only while the tenant's
 * data version holds, and every way an action can change moves it.
 */
describe('ResponseCache', () => {
  const body = (n: number, fill = 'x') => Buffer.from(fill.repeat(n));

  it('keeps an answer the second time its key is asked at one version, and serves it only at that version', () => {
    const cache = new ResponseCache(1000);
    cache.offer('k', 1, body(10), 'text/plain');
    expect(cache.get('k', 1)).toBeUndefined();
    cache.offer('k', 1, body(10, 'a'), 'text/plain');
    expect(cache.get('k', 1)?.body.toString()).toBe('a'.repeat(10));
    expect(cache.get('k', 2)).toBeUndefined();
    // the other version's entry is gone for good, and its bytes with it
    expect(cache.get('k', 1)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect([cache.hits, cache.misses]).toEqual([1, 3]);
  });

  it('asks again from the start when the version moved between two sightings', () => {
    const cache = new ResponseCache(1000);
    cache.offer('k', 1, body(10), 'text/plain');
    cache.offer('k', 2, body(10), 'text/plain');
    expect(cache.get('k', 2)).toBeUndefined();
    cache.offer('k', 2, body(10), 'text/plain');
    expect(cache.get('k', 2)).toBeDefined();
  });

  it('stays within its bytes, dropping the least recently used first, and never keeps an answer larger than all of it', () => {
    const cache = new ResponseCache(100);
    const keep = (k: string, n: number) => {
      cache.offer(k, 1, body(n), 'text/plain');
      cache.offer(k, 1, body(n), 'text/plain');
    };
    keep('a', 40);
    keep('b', 40);
    expect(cache.get('a', 1)).toBeDefined(); // a is now the most recently used
    keep('c', 40);
    expect(cache.size).toBe(82); // bodies and keys
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.get('a', 1)).toBeDefined();
    expect(cache.get('c', 1)).toBeDefined();
    keep('huge', 97);
    expect(cache.get('huge', 1)).toBeUndefined();
    expect(cache.size).toBe(82);
  });

  it('counts keys too: long URLs with tiny answers (a count) cannot grow it past its bound', () => {
    const cache = new ResponseCache(10_000, 10_000);
    for (let i = 0; i < 100; i++) {
      const key = `${i}`.padEnd(1000, 'x');
      cache.offer(key, 1, body(2), 'text/plain');
      cache.offer(key, 1, body(2), 'text/plain');
    }
    expect(cache.size).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBe(9 * 1002);
  });

  it('forgets the oldest first sightings beyond its bound (characters of key)', () => {
    const cache = new ResponseCache(1000, 2);
    for (const k of ['a', 'b', 'c']) cache.offer(k, 1, body(1), 'text/plain');
    cache.offer('a', 1, body(1), 'text/plain'); // a's first sighting was forgotten: this is a first again
    cache.offer('c', 1, body(1), 'text/plain');
    expect(cache.get('a', 1)).toBeUndefined();
    expect(cache.get('c', 1)).toBeDefined();
  });
});

const metric = async (svc: TestService, name: string): Promise<number | undefined> => {
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(await (await svc.fetch('/metrics')).text());
  return m ? Number(m[1]) : undefined;
};

describe('list cache through the API (SQLite)', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ engine: false });
  });
  afterAll(async () => svc?.close());

  const list = async (token: string, query = '') => {
    const res = await svc.fetch(`${collectionPath()}${query}`, { token });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    return text;
  };
  const ids = (text: string) => (JSON.parse(text).value as { id: string }[]).map((a) => a.id);

  it('serves a repeated list from the cache, byte for byte, and counts the hits', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 3, () => blockIp());
    const query = `?$top=2&$count=true&$filter=${encodeURIComponent("name eq 'BlockIp'")}`;
    const before = (await metric(svc, 'bulwark_list_cache_hits_total'))!;
    const first = await list(token, query);
    const second = await list(token, query); // kept now
    const third = await list(token, query);
    expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBe(before + 1);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(JSON.parse(third)['@odata.count']).toBe(3);
  });

  /** Lists and counts `token`'s tenant three times (the second keeps the answers, the third is served from them). */
  const keepAnswers = async (token: string) => {
    const hits = (await metric(svc, 'bulwark_list_cache_hits_total'))!;
    const lists = [await list(token), await list(token), await list(token)];
    const counts = [await count(token), await count(token), await count(token)];
    expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBe(hits + 2);
    expect(new Set(lists).size).toBe(1);
    expect(new Set(counts).size).toBe(1);
    return JSON.parse(lists[0]!).value as Record<string, unknown>[];
  };
  const count = async (token: string) => (await svc.fetch(`${collectionPath()}/$count`, { token })).text();

  it('shows a create at once, in lists and counts', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    const a = await createAction(svc, token);
    expect((await keepAnswers(token)).map((x) => x['id'])).toEqual([a['id']]);
    const b = await createAction(svc, token);
    expect(ids(await list(token))).toEqual([a['id'], b['id']]);
    expect(await count(token)).toBe('2');
  });

  it('shows a cancel at once', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    const a = await createAction(svc, token);
    expect((await keepAnswers(token))[0]!['cancelledDateTime']).toBeNull();
    expect((await postJson(svc, cancelPath(a['id']), token, {})).status).toBe(200);
    expect(JSON.parse(await list(token)).value[0]['cancelledDateTime']).not.toBeNull();
  });

  it('shows a write by any other connection to the file at once, as another process or a tool would make it', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    const a = await createAction(svc, token);
    expect((await keepAnswers(token))[0]!['actionReason']).toBe('api test');
    const other = new BetterSqlite3(path.join(svc.config.dataDir, 'bulwark.db'));
    try {
      other.prepare('update actions set action_reason = ? where id = ?').run('changed elsewhere', a['id']);
      await keepAnswers(token);
      other.prepare('delete from action_parameters where action_seq = (select seq from actions where id = ?)').run(a['id']);
      other.prepare('delete from actions where id = ?').run(a['id']);
    } finally {
      other.close();
    }
    expect(ids(await list(token))).toEqual([]);
    expect(await count(token)).toBe('0');
  });

  it('under concurrent creates, every list and count includes every action acknowledged before it was asked', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 120; i++) acknowledged.push((await createAction(svc, token))['id'] as string);
      writing = false;
    })();
    let checked = 0;
    const reader = async () => {
      while (writing) {
        const before = acknowledged.length;
        const [listed, counted] = await Promise.all([list(token, '?$top=1000'), count(token)]);
        const seen = new Set(ids(listed));
        const missing = acknowledged.slice(0, before).filter((id) => !seen.has(id));
        expect(missing, `acknowledged before the list was asked, missing from it`).toEqual([]);
        expect(Number(counted)).toBeGreaterThanOrEqual(before);
        checked++;
      }
    };
    const hits = (await metric(svc, 'bulwark_list_cache_hits_total'))!;
    await Promise.all([writer, ...Array.from({ length: 6 }, reader)]);
    expect(checked).toBeGreaterThan(100);
    // the readers did meet kept answers between the writes, so the cache was in play
    expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBeGreaterThan(hits);
  });

  it('counts a filter once for every page of a $count=true list and for /$count, until the tenant writes', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 5, (i) => blockIp(undefined, { clientContext: i < 3 ? 'three' : 'two' }));
    const countHits = async () => (await metric(svc, 'bulwark_list_cache_count_hits_total'))!;
    const before = await countHits();
    const first = JSON.parse(await list(token, '?$top=2&$count=true'));
    expect(first['@odata.count']).toBe(5);
    const second = JSON.parse(await list(token, new URL(first['@odata.nextLink']).pathname.replace(collectionPath(), '') + new URL(first['@odata.nextLink']).search));
    expect(second['@odata.count']).toBe(5);
    expect(await count(token)).toBe('5');
    expect(await countHits()).toBe(before + 2);
    // another filter is another count
    const filtered = await svc.fetch(`${collectionPath()}/$count?$filter=${encodeURIComponent("clientContext eq 'two'")}`, { token });
    expect(await filtered.text()).toBe('2');
    expect(await countHits()).toBe(before + 2);
    await createAction(svc, token);
    expect(JSON.parse(await list(token, '?$top=2&$count=true'))['@odata.count']).toBe(6);
    expect(await count(token)).toBe('6');
  });

  it('never answers one tenant with what was kept for another at the same URL', async () => {
    const tokenA = await svc.token({ tenant: svc.newTenant() });
    const tokenB = await svc.token({ tenant: svc.newTenant() });
    const a = await createAction(svc, tokenA);
    for (let i = 0; i < 3; i++) expect(ids(await list(tokenA))).toEqual([a['id']]);
    for (let i = 0; i < 3; i++) expect(JSON.parse(await list(tokenA, '?$count=true'))['@odata.count']).toBe(1);
    expect(ids(await list(tokenB))).toEqual([]);
    expect(JSON.parse(await list(tokenB, '?$top=5&$count=true'))['@odata.count']).toBe(0);
    expect(await count(tokenB)).toBe('0');
    const b = await createAction(svc, tokenB);
    expect(ids(await list(tokenB))).toEqual([b['id']]);
    // B's writes do not retire A's answers: A's next list is still a hit
    const hits = (await metric(svc, 'bulwark_list_cache_hits_total'))!;
    expect(ids(await list(tokenA))).toEqual([a['id']]);
    expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBe(hits + 1);
  });

  it('never gives one tenant a count kept for another, even when their versions are the same number', async () => {
    const tenantA = svc.newTenant();
    const tenantB = svc.newTenant();
    const tokenA = await svc.token({ tenant: tenantA });
    const tokenB = await svc.token({ tenant: tenantB });
    await createMany(svc, tokenA, 2, () => blockIp());
    await createAction(svc, tokenB);
    for (let i = 0; i < 3; i++) expect(await count(tokenA)).toBe('2');
    const other = new BetterSqlite3(path.join(svc.config.dataDir, 'bulwark.db'));
    try {
      const { version } = other.prepare('select version from action_versions where tenant_id = ?').get(tenantA) as { version: number };
      other.prepare('update action_versions set version = ? where tenant_id = ?').run(version, tenantB);
    } finally {
      other.close();
    }
    expect(await count(tokenB)).toBe('1');
    expect(JSON.parse(await list(tokenB, '?$count=true'))['@odata.count']).toBe(1);
  });

  it('checks the caller\'s role before it looks: a kept answer is not served to a token without read access', async () => {
    const tenant = svc.newTenant();
    const token = await svc.token({ tenant });
    await createAction(svc, token);
    for (let i = 0; i < 3; i++) await list(token);
    const noRoles = await svc.token({ tenant, roles: [] });
    await expectGraphError(await svc.fetch(collectionPath(), { token: noRoles }), 403);
    await expectGraphError(await svc.fetch(`${collectionPath()}/$count`, { token: noRoles }), 403);
    const reader = await svc.token({ tenant, roles: readOnly });
    expect(await list(reader)).toBe(await list(token));
  });

  it('keeps answers per exact URL: the links in each answer are the ones its request asked for', async () => {
    const token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 3, () => blockIp());
    for (let i = 0; i < 2; i++) await list(token, '?$top=1');
    const v1 = await svc.fetch(`/v1.0/security/securityActions?$top=1`, { token });
    expect(((await v1.json()) as Record<string, string>)['@odata.nextLink']).toMatch(/\/v1\.0\/security\/securityActions\?\$top=1&\$skiptoken=/);
  });
});

describe('list cache and the engine in another service on the same file (SQLite)', () => {
  it('retires a kept answer when the engine completes the action', async () => {
    const svc = await startTestService({ engine: false });
    try {
      const token = await svc.token({ tenant: svc.newTenant() });
      const a = await createAction(svc, token);
      const notStarted = `${collectionPath()}?$filter=${encodeURIComponent("status eq 'NotStarted'")}`;
      const listNotStarted = async () => ((await (await svc.fetch(notStarted, { token })).json()) as { value: unknown[] }).value;
      const hits = (await metric(svc, 'bulwark_list_cache_hits_total'))!;
      for (let i = 0; i < 3; i++) expect(await listNotStarted()).toHaveLength(1);
      expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBe(hits + 1);
      const engine = await startService({ config: loadConfig({ env: {}, flags: { port: 0, logLevel: 'silent', dataDir: svc.config.dataDir } }), api: false, engine: true });
      try {
        const deadline = Date.now() + 10_000;
        let status = '';
        while (status !== 'Completed' && Date.now() < deadline) {
          status = ((await (await svc.fetch(`${collectionPath()}/${a['id']}`, { token })).json()) as { status: string }).status;
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(status).toBe('Completed');
        expect(await listNotStarted()).toEqual([]);
      } finally {
        await engine.close();
      }
    } finally {
      await svc.close();
    }
  });
});

describe('list cache settings', () => {
  const cases = [
    { name: 'computes every answer and exports no cache metrics with listCache.megabytes 0', options: { overrides: { listCache: { megabytes: 0 } } } },
    ...backends()
      .filter((b) => b !== sqliteBackend)
      .map((backend) => ({ name: `keeps no list cache on ${backend.name}, which has no data version`, options: { backend } })),
  ];
  for (const { name, options } of cases) {
    it(name, async () => {
      const svc = await startTestService(options);
      try {
        const token = await svc.token({ tenant: svc.newTenant() });
        await createAction(svc, token);
        for (let i = 0; i < 3; i++) expect((await svc.fetch(collectionPath(), { token })).status).toBe(200);
        expect(await metric(svc, 'bulwark_list_cache_hits_total')).toBeUndefined();
      } finally {
        await svc.close();
      }
    });
  }
});
