/**
 * The SQLite reader keeps long queries off the event loop: counts always run on its worker thread,
 * list queries move there once they examine more rows than the scan budget. The event loop goes on
 * meanwhile, rows arrive exactly as SQLite has them either way, a query past its time limit is
 * stopped with a Graph-style 400, one that waited the whole limit for its turn is refused with a
 * 503, and the next one works again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { openSqliteReader, scanBudgetFunction, type SqliteReader } from '../../src/storage/sql/sqlite-reader.js';

const awkwardRows: [number | null, number | null, string | null, string | null][] = [
  [0, 0.5, '', null],
  [-7, -1e-7, 'ü 🛡️ "quoted" \\ back', 'n'],
  [9_007_199_254_740_991, 1.5e300, 'x'.repeat(5000), ':'],
];

/** A list query over `?` generated rows, examining each (the scan budget term first), matching none. */
const scanTo = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x FROM c WHERE ${scanBudgetFunction}(x) AND x < 0`;

/** The same count, calling the scan budget function per row as the store's counts do. */
const countWithBudget = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c WHERE ${scanBudgetFunction}(x)`;

/** A count that visits `n` generated rows: ~0.1 s per million on the project machine. */
const countTo = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';

describe('SqliteReader list and count queries', () => {
  let dir: string;
  let file: string;
  const readers: SqliteReader[] = [];
  const open = (options: { queryTimeoutMs?: number; scanBudgetRows?: number } = {}) => {
    const r = openSqliteReader(file, options);
    readers.push(r);
    return r;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-reader-'));
    file = path.join(dir, 'test.db');
    const db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.exec('create table t (v integer)');
    db.prepare('insert into t (v) values (?), (?), (?)').run(1, 2, 3);
    db.exec('create table awkward (i integer, r real, s text, z text)');
    const insert = db.prepare('insert into awkward (i, r, s, z) values (?, ?, ?, ?)');
    for (const row of awkwardRows) insert.run(...row);
    db.close();
  });

  afterAll(async () => {
    for (const r of readers) await r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers the first row, with bound parameters', async () => {
    const reader = open();
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t where v >= ?', [2])).resolves.toEqual({ n: 2 });
    await expect(reader.aggregate('select v from t where v > ?', [9])).resolves.toBeUndefined();
  });

  it('answers a list query on the event loop within the scan budget, and on the worker beyond it, with the same rows', async () => {
    const listSql = `select i, r, s, z from awkward where ${scanBudgetFunction}(rowid) order by rowid`;
    const roomy = open({ scanBudgetRows: 10 });
    await expect(roomy.values(listSql, [])).resolves.toEqual(awkwardRows);
    expect(roomy.offloaded).toBe(0);
    const tight = open({ scanBudgetRows: 2 });
    await expect(tight.values(listSql, [])).resolves.toEqual(awkwardRows);
    expect(tight.offloaded).toBe(1);
    // The budget is per query: the next small one stays on the event loop.
    await expect(tight.values(`select v from t where rowid = ? and ${scanBudgetFunction}(v)`, [2])).resolves.toEqual([[2]]);
    expect(tight.offloaded).toBe(1);
  });

  it('moves a list query that scans past its budget off the event loop', async () => {
    const reader = open({ scanBudgetRows: 1000 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    await expect(reader.values(scanTo, [5_000_000])).resolves.toEqual([]);
    const ms = performance.now() - started;
    clearInterval(timer);
    expect(reader.offloaded).toBe(1);
    expect(ticks, `timers during the ${ms.toFixed(0)} ms scan`).toBeGreaterThan(5);
  });

  it('leaves the event loop free while a long count runs (the same count on the read connection blocks it)', async () => {
    const reader = open();
    const n = 5_000_000;
    const ticksDuring = async (run: () => Promise<unknown>) => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = performance.now();
      await run();
      const ms = performance.now() - started;
      clearInterval(timer);
      return { ticks, ms };
    };
    const offLoop = await ticksDuring(() => reader.aggregate(countTo, [n]));
    const onLoop = await ticksDuring(async () => reader.row(countTo, [n]));
    expect(onLoop.ticks, `the synchronous count (${onLoop.ms.toFixed(0)} ms) let timers run`).toBe(0);
    expect(offLoop.ticks, `timers during the ${offLoop.ms.toFixed(0)} ms worker count`).toBeGreaterThan(5);
  });

  it('stops a count that outlasts its limit with a 400 — the work really ends — and the next count works', async () => {
    const reader = open({ queryTimeoutMs: 200 });
    const started = performance.now();
    const error = await reader.aggregate(countWithBudget, [2_000_000_000]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulwarkError);
    expect((error as BulwarkError).kind).toBe('badRequest');
    expect((error as BulwarkError).message).toMatch(/longer than 0.2 s.*narrow \$filter/);
    // Stopped by the worker's own deadline, not by the 5 s safety net (nor run to the end: minutes).
    expect(performance.now() - started).toBeLessThan(4_000);
    // No thread goes on counting: the process is near idle afterwards (it would burn a full core).
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 600));
    const used = process.cpuUsage(cpu);
    expect((used.user + used.system) / 1000, 'CPU ms used in 600 ms after the 400').toBeLessThan(300);
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
  });

  it('answers a count that waited behind a slower one, within the limit', async () => {
    const reader = open({ queryTimeoutMs: 10_000 });
    const slow = reader.aggregate<{ n: number }>(countWithBudget, [1_000_000]);
    const waiting = reader.aggregate<{ n: number }>('select count(*) as n from t', []);
    await expect(slow).resolves.toEqual({ n: 1_000_000 });
    await expect(waiting).resolves.toEqual({ n: 3 });
  });

  it('refuses unrun (503) a query that could not start within the limit: a burst of slow counts is answered within twice the limit, not one limit after another', async () => {
    const reader = open({ queryTimeoutMs: 300 });
    const started = performance.now();
    const burst = await Promise.all(
      Array.from({ length: 8 }, () =>
        reader.aggregate(countWithBudget, [2_000_000_000]).then(
          () => ({ kind: 'answered', ms: performance.now() - started }),
          (e: unknown) => ({ kind: e instanceof BulwarkError ? e.kind : String(e), message: (e as Error).message, retryAfter: e instanceof BulwarkError ? e.details.retryAfterSeconds : undefined, ms: performance.now() - started }),
        ),
      ),
    );
    // The first runs and is stopped at the limit; the rest waited all of it behind the first.
    expect(burst[0]).toMatchObject({ kind: 'badRequest', message: expect.stringMatching(/longer than 0.3 s/) });
    for (const refused of burst.slice(1)) {
      expect(refused).toMatchObject({ kind: 'serviceUnavailable', message: expect.stringMatching(/from starting within 0.3 s/), retryAfter: 1 });
    }
    // One after another (the wait not bounded) the last would answer after 8 × 0.3 s.
    expect(Math.max(...burst.map((b) => b.ms)), 'ms until the last of the burst answered').toBeLessThan(1_500);
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
  });

  it('drops a waiting query whose caller gives up: it never runs, and the query behind it starts as soon as the first ends', async () => {
    const reader = open({ queryTimeoutMs: 10_000 });
    const settled: string[] = [];
    const started = performance.now();
    const first = reader.aggregate<{ n: number }>(countWithBudget, [1_000_000]).then((r) => (settled.push('first'), r));
    const gaveUp = new AbortController();
    // Would run until the 10 s limit stops it, holding up everything behind it.
    const abandoned = reader.aggregate(countWithBudget, [2_000_000_000], gaveUp.signal).catch((e: unknown) => (settled.push('abandoned'), e));
    const behind = reader.aggregate<{ n: number }>('select count(*) as n from t', []).then((r) => (settled.push('behind'), r));
    gaveUp.abort();
    const error = await abandoned;
    expect(error).toBeInstanceOf(BulwarkError);
    expect((error as BulwarkError).message).toMatch(/closed the connection before the answer/);
    await expect(first).resolves.toEqual({ n: 1_000_000 });
    await expect(behind).resolves.toEqual({ n: 3 });
    expect(settled, 'the order of the answers').toEqual(['abandoned', 'first', 'behind']);
    expect(performance.now() - started, 'ms until the query behind answered').toBeLessThan(5_000);
    expect(reader.abandoned).toBe(1);
  });

  it('stops a running query whose caller gives up, list or count — the work really ends — and the next query works', async () => {
    const reader = open({ queryTimeoutMs: 10_000, scanBudgetRows: 1000 });
    for (const run of [
      (signal: AbortSignal) => reader.aggregate(countWithBudget, [2_000_000_000], signal),
      (signal: AbortSignal) => reader.values(scanTo, [2_000_000_000], signal),
    ]) {
      const gaveUp = new AbortController();
      const running = run(gaveUp.signal).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      const stopping = performance.now();
      gaveUp.abort();
      const error = await running;
      expect((error as BulwarkError).message).toMatch(/closed the connection before the answer/);
      // Stopped at the worker's next check, long before the 10 s limit.
      expect(performance.now() - stopping, 'ms from abort to answer').toBeLessThan(1_000);
      const cpu = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 600));
      const used = process.cpuUsage(cpu);
      expect((used.user + used.system) / 1000, 'CPU ms used in 600 ms after the abort').toBeLessThan(300);
      await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
    }
    expect(reader.offloaded).toBe(1);
    expect(reader.abandoned).toBe(2);
  });

  it('refuses unrun a query whose caller had already gone, and answers one whose signal never aborts', async () => {
    const reader = open();
    const gone = new AbortController();
    gone.abort();
    await expect(reader.aggregate('select count(*) as n from t', [], gone.signal)).rejects.toThrow(/closed the connection/);
    const stays = new AbortController();
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [], stays.signal)).resolves.toEqual({ n: 3 });
    // Answered: aborting now changes nothing.
    stays.abort();
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
    expect(reader.abandoned).toBe(1);
  });

  it('closes promptly while a long query runs, and stops it', async () => {
    const reader = openSqliteReader(file);
    const running = reader.aggregate(countWithBudget, [2_000_000_000]).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    await reader.close();
    expect(performance.now() - started, 'ms to close').toBeLessThan(2_000);
    expect(await running).toBeInstanceOf(Error);
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 600));
    const used = process.cpuUsage(cpu);
    expect((used.user + used.system) / 1000, 'CPU ms used in 600 ms after closing').toBeLessThan(300);
  });

  it('passes SQL errors on with their SQLite code', async () => {
    const reader = open();
    const error = await reader.aggregate('select nope from t', []).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('SQLITE_ERROR');
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
  });
});
