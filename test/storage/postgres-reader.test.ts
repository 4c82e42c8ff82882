/**
 * PostgreSQL's lists and counts run on a read pool (src/storage/sql/postgres-reader.ts). A query
 * whose caller gives up is not sent if it still waits for a connection, and is cancelled in the
 * server if it runs; the cancelled query's connection is closed, not pooled again, so a cancel
 * that arrives late cannot stop the next query on it. Real PostgreSQL.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/sql/database.js';
import type { PostgresReader } from '../../src/storage/sql/postgres-reader.js';
import { postgresBackend } from '../helpers/backends.js';

describe('PostgreSQL read pool: callers that give up (postgres)', () => {
  let storage: Awaited<ReturnType<typeof postgresBackend.fresh>>;
  let handle: DatabaseHandle;
  let reader: PostgresReader;
  const pid = async () => (await reader.rows<{ pid: number }>('select pg_backend_pid() as pid', []))[0]!.pid;

  beforeAll(async () => {
    storage = await postgresBackend.fresh();
    handle = await openDatabase({ databaseUrl: storage.databaseUrl, schema: storage.databaseSchema, dataDir: storage.dataDir, migrate: false, postgresReads: { poolSize: 1, timeoutMs: 20_000 } });
    reader = handle.postgresReader!;
    await sql`create sequence probe`.execute(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await storage?.cleanup();
  });

  it('does not send a query whose caller gave up while it waited for the connection', async () => {
    const before = reader.abandoned;
    const holding = reader.rows('select pg_sleep(0.4)', []);
    const gaveUp = new AbortController();
    const waiting = reader.rows('select nextval($1) as n', ['probe'], gaveUp.signal).catch((e: unknown) => e);
    gaveUp.abort();
    await holding;
    const error = await waiting;
    expect(error).toBeInstanceOf(BulwarkError);
    expect((error as BulwarkError).message).toMatch(/closed the connection before the answer/);
    expect(reader.abandoned).toBe(before + 1);
    // Never ran: the sequence was not advanced.
    expect((await reader.rows<{ is_called: boolean }>('select is_called from probe', []))[0]!.is_called).toBe(false);
  });

  it('cancels a running query in the server, and closes its connection instead of pooling it', async () => {
    const before = reader.abandoned;
    const first = await pid();
    const gaveUp = new AbortController();
    const started = performance.now();
    const running = reader.rows('select pg_sleep(15)', [], gaveUp.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    gaveUp.abort();
    const error = await running;
    expect((error as BulwarkError).message).toMatch(/closed the connection before the answer/);
    expect(performance.now() - started, 'ms until the 15 s query ended').toBeLessThan(5_000);
    expect(reader.abandoned).toBe(before + 1);
    // The pool's one connection was that query's: the next query runs in a new server process.
    expect(await pid()).not.toBe(first);
  });

  it('answers a query whose signal aborts only after the answer, and keeps its connection', async () => {
    const before = reader.abandoned;
    const first = await pid();
    const stays = new AbortController();
    await expect(reader.rows<{ one: number }>('select 1 as one', [], stays.signal)).resolves.toEqual([{ one: 1 }]);
    stays.abort();
    expect(await pid()).toBe(first);
    expect(reader.abandoned).toBe(before);
  });
});
