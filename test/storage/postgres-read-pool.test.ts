/**
 * PostgreSQL's read pool (lists and counts) bounds how long a request waits for a connection
 * (src/storage/sql/postgres-reader.ts). Here its server accepts TCP connections and never says a
 * word, as a hung database or a black-holed network path does: the connection attempt gives up
 * at the limit and the caller gets a 503 then (not retried: each retry would wait the limit
 * again), instead of a request that hangs for as long as the server does.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { createSqlActionStore } from '../../src/storage/sql/action-store.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/sql/database.js';
import { isTransientDbError } from '../../src/storage/sql/transient.js';
import { postgresReadError } from '../../src/storage/sql/postgres-reader.js';

describe('PostgreSQL read pool against a server that never answers (postgres wire, silent TCP server)', () => {
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  let handle: DatabaseHandle;

  beforeAll(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    handle = await openDatabase({ databaseUrl: `postgres://bulwark@127.0.0.1:${port}/none`, dataDir: '/nonexistent', migrate: false, postgresReads: { poolSize: 1, timeoutMs: 300 } });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await handle?.close().catch(() => undefined);
    await new Promise((resolve) => silent?.close(resolve));
  });

  it('answers a list with 503 (retry shortly) at the limit, not when the server does', async () => {
    const store = createSqlActionStore({ db: handle.db, caps: handle.caps, postgresReader: handle.postgresReader, notifier: handle.notifier });
    const started = performance.now();
    const error = await store.list('t', { orderBy: [], top: 10 }).catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(BulwarkError);
    expect(error).toMatchObject({ kind: 'serviceUnavailable', message: 'The database is busy or unreachable; retry shortly.' });
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms, 'one attempt of 0.3 s, not retried').toBeLessThan(1_000);
  });

  it('maps what node-postgres and the server say to what the caller should see', () => {
    const timedOut = postgresReadError(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }), 2_000);
    expect(timedOut).toMatchObject({ kind: 'badRequest', message: 'The query ran longer than 2 s and was stopped; narrow $filter.' });
    const waited = postgresReadError(new Error('timeout exceeded when trying to connect'), 2_000);
    expect(waited).toMatchObject({ kind: 'serviceUnavailable', details: { retryAfterSeconds: 2 } });
    const connect = postgresReadError(new Error('Connection terminated due to connection timeout'), 2_000);
    expect(connect).toMatchObject({ kind: 'serviceUnavailable', message: 'The database is busy or unreachable; retry shortly.' });
    expect(isTransientDbError(connect), 'answered at once, not retried').toBe(false);
    const other = Object.assign(new Error('relation "nope" does not exist'), { code: '42P01' });
    expect(postgresReadError(other, 2_000)).toBe(other);
  });
});
