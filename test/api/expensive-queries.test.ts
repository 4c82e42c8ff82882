import http from 'node:http';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBackend, sqliteBackend } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { blockIp, collectionPath, createMany, expectGraphError, getJson } from './support.js';

/**
 * On SQLite, a list whose `$filter` no index narrows moves off the event loop once it has examined
 * `sqliteReads.scanBudgetRows` rows (src/storage/sql/sqlite-reader.ts). Through the API the answer
 * is the same either way, and /metrics counts the moves. (PostgreSQL has no such budget: below.)
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

/**
 * On SQLite, a count or a moved list whose client closes the connection before the answer is
 * dropped from the read worker's queue, or stopped if it runs (src/http/client-gone.ts,
 * sqlite-reader.ts): a client that times out and asks again does not queue behind itself.
 */
describe('a client that gives up on a slow count (sqlite)', () => {
  let svc: TestService;
  let token: string;
  const countPath = `${collectionPath()}/$count?$filter=${encodeURIComponent("contains(actionReason,'no such reason')")}`;
  const metric = async (name: string) => {
    const text = await (await svc.fetch('/metrics')).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
  };
  /** GET with a token over node:http, so the test decides when the connection closes. */
  const get = (path: string) => {
    const req = http.get(`${svc.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    return { req, answer };
  };

  beforeAll(async () => {
    svc = await startTestService({ backend: sqliteBackend, engine: false });
    const tenant = svc.newTenant();
    token = await svc.token({ tenant });
    const [action] = await createMany(svc, token, 1, () => blockIp());
    // 200,000 more rows of this tenant, written directly: each count below examines all of them.
    const db = svc.service.database.db;
    const columns = (await sql<{ name: string }>`select name from pragma_table_info('actions') where name <> 'seq'`.execute(db)).rows.map((r) => r.name);
    const copied = columns.map((c) => (c === 'id' ? sql`id || '-' || x` : sql.ref(c)));
    await sql`with recursive c(x) as (select 1 union all select x + 1 from c where x < 200000)
      insert into actions (${sql.join(columns.map((c) => sql.ref(c)))}) select ${sql.join(copied)} from actions, c where tenant_id = ${tenant} and id = ${action!['id']}`.execute(db);
  });
  afterAll(async () => svc?.close());

  it('drops the count of a client that closed its connection while the count waited, and answers the others', async () => {
    expect(await metric('bulwark_queries_abandoned_total')).toBe(0);
    const first = get(countPath);
    const second = get(countPath);
    await new Promise((r) => setTimeout(r, 20));
    // Queued behind the two: its client gives up.
    const gone = get(countPath);
    gone.answer.catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    gone.req.destroy();
    expect(await first.answer).toEqual({ status: 200, body: '0' });
    expect(await second.answer).toEqual({ status: 200, body: '0' });
    expect(await metric('bulwark_queries_abandoned_total')).toBe(1);
    // The service goes on: a count answers, and an ordinary request too.
    expect((await get(countPath).answer).status).toBe(200);
    expect((await get(`${collectionPath()}?$top=1`).answer).status).toBe(200);
  });

  it('stops the running count of a client that closed its connection', async () => {
    const before = await metric('bulwark_queries_abandoned_total');
    // A filter not counted before: the count of the test above is kept (list cache) and would not run.
    const gone = get(`${collectionPath()}?$count=true&$top=1&$filter=${encodeURIComponent("contains(actionReason,'no such reason either')")}`);
    gone.answer.catch(() => {});
    await new Promise((r) => setTimeout(r, 30));
    gone.req.destroy();
    // Both of its queries: the list (moved to the worker past the scan budget) and the count.
    await expect.poll(() => metric('bulwark_queries_abandoned_total'), { timeout: 5_000 }).toBe(before + 2);
    expect((await get(countPath).answer)).toEqual({ status: 200, body: '0' });
  });
});

/**
 * On PostgreSQL, lists and counts run on a read pool whose connections carry `statement_timeout`
 * (`postgresReads.timeoutSeconds`). A query held past the limit (here: waiting behind another
 * session's ACCESS EXCLUSIVE lock on `actions`, which statement_timeout counts like work) is
 * stopped by the server and answered with the same 400 as on SQLite; the service goes on.
 */
describe('lists and counts past the PostgreSQL time limit (postgres)', () => {
  let svc: TestService;
  let token: string;

  beforeAll(async () => {
    svc = await startTestService({ backend: postgresBackend, overrides: { postgresReads: { poolSize: 1, timeoutSeconds: 1 } }, engine: false });
    token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 5, () => blockIp());
  });
  afterAll(async () => svc?.close());

  async function withTableLocked<T>(fn: () => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: svc.config.databaseUrl, options: `-c search_path=${svc.config.databaseSchema}` });
    await c.connect();
    try {
      await c.query('begin');
      await c.query('lock table actions in access exclusive mode');
      return await fn();
    } finally {
      await c.query('rollback').catch(() => undefined);
      await c.end();
    }
  }

  it('answers 400 "narrow $filter" for a list and a count stopped at the limit, then answers normally', async () => {
    const fast = await svc.fetch(`${collectionPath()}?$top=3`, { token });
    expect(fast.status, 'a quick list under a 1 s limit').toBe(200);

    await withTableLocked(async () => {
      for (const path of [`${collectionPath()}?$filter=${encodeURIComponent("status eq 'NotStarted'")}`, `${collectionPath()}/$count`]) {
        const started = performance.now();
        // Without a limit the query would wait as long as the lock is held: fail rather than hang.
        const res = await svc.fetch(path, { token, signal: AbortSignal.timeout(10_000) });
        const ms = performance.now() - started;
        await expectGraphError(res, 400, 'The query ran longer than 1 s and was stopped; narrow $filter.');
        expect(ms, `${path} answered after the limit`).toBeGreaterThanOrEqual(900);
        expect(ms, `${path} answered soon after the limit`).toBeLessThan(5_000);
      }
    });

    const after = await getJson(svc, `${collectionPath()}?$count=true`, token);
    expect(after.res.status).toBe(200);
    expect(after.body['@odata.count']).toBe(5);
    expect(after.body.value).toHaveLength(5);
  });

  it('answers a burst of lists that cannot start within the limit with 503 and Retry-After, within twice the limit each', async () => {
    const filter = encodeURIComponent("status eq 'NotStarted'");
    const burst = await withTableLocked(() =>
      Promise.all(
        Array.from({ length: 4 }, async (_, i) => {
          // One by one, behind a 1-connection read pool: without the wait limit the last would answer after 4 s.
          const started = performance.now();
          const res = await svc.fetch(`${collectionPath()}?$filter=${filter}&n=${i}`, { token, signal: AbortSignal.timeout(10_000) });
          return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error: { code: string; message: string } }, ms: performance.now() - started };
        }),
      ),
    );
    const stopped = burst.filter((b) => b.status === 400);
    const refused = burst.filter((b) => b.status === 503);
    expect(stopped.length + refused.length, JSON.stringify(burst.map((b) => b.status))).toBe(4);
    expect(stopped.length).toBeGreaterThanOrEqual(1);
    // Those queued behind the first wait 1 s for the connection; at most one gets it as it frees up.
    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const r of refused) {
      expect(r.retryAfter).toBe('1');
      expect(r.body.error.message).toBe('Other long queries kept this one from starting within 1 s; retry later, or narrow $filter.');
    }
    expect(Math.max(...burst.map((b) => b.ms)), 'ms until the last of the burst answered').toBeLessThan(3_500);
    const after = await svc.fetch(`${collectionPath()}?$filter=${filter}`, { token });
    expect(after.status).toBe(200);
  });
});

/**
 * On PostgreSQL, a list or count whose client closes the connection before the answer is
 * cancelled in the server (`pg_cancel_backend`), its connection closed rather than pooled
 * (src/storage/sql/postgres-reader.ts). Here each query waits behind another session's lock with a
 * 30 s limit, so only the cancel can end it before the lock does.
 */
describe('a client that gives up on a slow list or count (postgres)', () => {
  let svc: TestService;
  let token: string;
  let locker: pg.Client;
  let lockerPid: number;
  /** Reads pg_stat_activity outside the locker's transaction (a transaction sees one snapshot of it). */
  let observer: pg.Client;

  beforeAll(async () => {
    svc = await startTestService({ backend: postgresBackend, overrides: { postgresReads: { poolSize: 1, timeoutSeconds: 30 } }, engine: false });
    token = await svc.token({ tenant: svc.newTenant() });
    await createMany(svc, token, 3, () => blockIp());
    locker = new pg.Client({ connectionString: svc.config.databaseUrl, options: `-c search_path=${svc.config.databaseSchema}` });
    await locker.connect();
    lockerPid = (await locker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    observer = new pg.Client({ connectionString: svc.config.databaseUrl });
    await observer.connect();
  });
  afterAll(async () => {
    await observer?.end();
    await locker?.end();
    await svc?.close();
  });

  /** Server processes waiting for the locker's lock. */
  const blocked = async () => (await observer.query<{ pid: number }>('select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [lockerPid])).rows.map((r) => r.pid);
  const abandoned = async () => Number(/^bulwark_queries_abandoned_total (\d+)/m.exec(await (await svc.fetch('/metrics')).text())?.[1]);

  it('cancels the query in the server when its client closes the connection, and answers the next', async () => {
    for (const path of [`${collectionPath()}?$filter=${encodeURIComponent("status eq 'NotStarted'")}`, `${collectionPath()}/$count`]) {
      const before = await abandoned();
      await locker.query('begin');
      await locker.query('lock table actions in access exclusive mode');
      try {
        const req = http.get(`${svc.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        req.on('error', () => {});
        await expect.poll(blocked, { timeout: 5_000 }).toHaveLength(1);
        const gaveUp = performance.now();
        req.destroy();
        // Only the cancel ends it while the lock is held (the time limit is 30 s).
        await expect.poll(blocked, { timeout: 5_000 }).toEqual([]);
        expect(performance.now() - gaveUp, `${path}: ms from the client leaving to the query ending`).toBeLessThan(5_000);
        expect(await abandoned()).toBe(before + 1);
      } finally {
        await locker.query('rollback');
      }
      // The one read connection was closed, not pooled: a new one answers.
      const after = await getJson(svc, `${collectionPath()}?$count=true`, token);
      expect(after.res.status).toBe(200);
      expect(after.body['@odata.count']).toBe(3);
    }
  });
});
