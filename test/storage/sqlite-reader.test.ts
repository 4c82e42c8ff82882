/**
 * The SQLite read connection's aggregates (`$count`) run on a worker thread: the event loop goes on
 * while a long count runs, a count past its time limit is stopped with a Graph-style 400 (one
 * waiting behind it is not), and the next count works again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { openSqliteReader, type SqliteReader } from '../../src/storage/sql/sqlite-reader.js';

/** A count that visits `n` generated rows: ~0.1 s per million on the project machine. */
const countTo = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';

describe('SqliteReader.aggregate', () => {
  let dir: string;
  let file: string;
  const readers: SqliteReader[] = [];
  const open = (timeoutMs?: number) => {
    const r = openSqliteReader(file, timeoutMs === undefined ? {} : { aggregateTimeoutMs: timeoutMs });
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

  it('stops a count that outlasts its limit with a 400, and the next count works', async () => {
    const reader = open(200);
    const started = performance.now();
    const error = await reader.aggregate(countTo, [2_000_000_000]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulwarkError);
    expect((error as BulwarkError).kind).toBe('badRequest');
    expect((error as BulwarkError).message).toMatch(/longer than 0.2 s.*narrow \$filter/);
    // Stopped, not run to the end (which would take minutes).
    expect(performance.now() - started).toBeLessThan(10_000);
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
  });

  it('does not refuse a count for the time it waited behind a slow one', async () => {
    const reader = open(300);
    const slow = reader.aggregate(countTo, [2_000_000_000]).catch((e: unknown) => e);
    const waiting = reader.aggregate<{ n: number }>('select count(*) as n from t', []);
    expect(await slow).toBeInstanceOf(BulwarkError);
    await expect(waiting).resolves.toEqual({ n: 3 });
  });

  it('passes SQL errors on with their SQLite code', async () => {
    const reader = open();
    const error = await reader.aggregate('select nope from t', []).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('SQLITE_ERROR');
    await expect(reader.aggregate<{ n: number }>('select count(*) as n from t', [])).resolves.toEqual({ n: 3 });
  });
});
