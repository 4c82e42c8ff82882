import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { blockIp, collectionPath, createMany } from './support.js';

/**
 * On SQLite, a list whose `$filter` no index narrows moves off the event loop once it has examined
 * `sqliteReads.scanBudgetRows` rows (src/storage/sql/sqlite-reader.ts). Through the API the answer
 * is the same either way, and /metrics counts the moves. (PostgreSQL has no such budget.)
 */
describe('lists past the SQLite scan budget (sqlite)', () => {
  let svc: TestService;
  let token: string;
  const offloaded = async () => {
    const text = await (await svc.fetch('/metrics')).text();
    return Number(/^bulwark_sqlite_queries_offloaded_total (\d+)/m.exec(text)?.[1]);
  };

  beforeAll(async () => {
    svc = await startTestService({ backend: sqliteBackend, overrides: { sqliteReads: { scanBudgetRows: 100 } }, engine: false });
    token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 150, (i) => blockIp(undefined, { actionReason: i % 50 === 7 ? 'needle in the haystack' : 'hay' }));
  });
  afterAll(async () => svc?.close());

  it('answers the same page whether the query stays on the event loop or moves, and counts the moves', async () => {
    expect(await offloaded()).toBe(0);
    const page = await svc.fetch(`${collectionPath()}?$top=10`, { token });
    expect(page.status).toBe(200);
    expect(((await page.json()) as { value: unknown[] }).value).toHaveLength(10);
    expect(await offloaded(), 'an ordered page of 11 rows moved').toBe(0);

    const needles = await svc.fetch(`${collectionPath()}?$filter=${encodeURIComponent("contains(actionReason,'needle')")}&$count=true`, { token });
    expect(needles.status).toBe(200);
    const body = (await needles.json()) as { value: { actionReason: string }[]; '@odata.count': number };
    expect(body.value.map((a) => a.actionReason)).toEqual(['needle in the haystack', 'needle in the haystack', 'needle in the haystack']);
    expect(body['@odata.count']).toBe(3);
    expect(await offloaded()).toBe(1);

    const none = await svc.fetch(`${collectionPath()}?$filter=${encodeURIComponent("contains(actionReason,'no such reason')")}`, { token });
    expect(((await none.json()) as { value: unknown[] }).value).toEqual([]);
    expect(await offloaded()).toBe(2);
  });
});
