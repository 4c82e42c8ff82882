import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { postgresCapabilities, sqliteCapabilities, type DialectCapabilities } from '../dialects.js';
import { createLocalNotifier, createPostgresNotifier, type Notifier } from '../notifier.js';
import type { Database } from './schema.js';
import { migrateToLatest } from './migrate.js';
import { withStatementCache } from './statement-cache.js';
import { defaultQueryTimeoutMs } from './query-time-limit.js';
import { openSqliteReader, type SqliteReader, type SqliteReaderOptions } from './sqlite-reader.js';
import { createPostgresReader, type PostgresReader } from './postgres-reader.js';

export interface DatabaseOptions {
  /** `postgres://…`; absent means the embedded SQLite database in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL schema (created if missing); used by tests for a fresh schema per run. */
  schema?: string | undefined;
  poolSize?: number;
  /** SQLite `synchronous`: FULL survives power loss, NORMAL survives process crashes. */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  migrate?: boolean;
  onError?: (e: Error) => void;
  /**
   * SQLite: carries wake-ups instead of the in-process emitter, when several processes share the
   * database file (`serve --api-processes N`). PostgreSQL always uses LISTEN/NOTIFY.
   */
  sqliteNotifier?: Notifier;
  /** SQLite: limits of the read connection (tests set small ones; the defaults are for service use). */
  sqliteReader?: SqliteReaderOptions;
  /** PostgreSQL: the pool list and count queries use, and their time limit (`postgresReader`). */
  postgresReads?: { poolSize: number; timeoutMs: number };
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  /**
   * For lease renewals only: on PostgreSQL a connection of its own, so a heartbeat never queues
   * behind the engine steps whose leases it keeps alive (decision 0013). SQLite: `db`.
   */
  leaseDb: Kysely<Database>;
  caps: DialectCapabilities;
  /** SQLite: a read-only connection for the API's hot reads (sqlite-reader.ts). PostgreSQL: none. */
  reader?: SqliteReader;
  /**
   * PostgreSQL: list and count queries run here, on a pool of their own whose connections stop
   * any statement past the time limit (`statement_timeout`), so a `$filter` no index narrows
   * neither runs unbounded nor takes the connections writes and the engine need (postgres-reader.ts).
   * SQLite: none.
   */
  postgresReader?: PostgresReader;
  notifier: Notifier;
  /** Human-readable location for logs, with any password removed. */
  describe: string;
  close(): Promise<void>;
}

const int8Oid = 20;

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  const onError = options.onError ?? (() => undefined);
  const handle = options.databaseUrl ? await openPostgres(options, onError) : openSqlite(options);
  if (options.migrate !== false) {
    try {
      await migrateToLatest(handle.db as Kysely<unknown>, handle.caps);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }
  return handle;
}

function openSqlite(options: DatabaseOptions): DatabaseHandle {
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(options.dataDir, 'bulwark.db');
  const raw = new BetterSqlite3(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${options.sqliteSynchronous ?? 'FULL'}`);
  raw.pragma('busy_timeout = 10000');
  raw.pragma('foreign_keys = ON');
  const notifier = options.sqliteNotifier ?? createLocalNotifier();
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(raw) }) });
  const reader = openSqliteReader(file, options.sqliteReader);
  return {
    db,
    leaseDb: db,
    caps: sqliteCapabilities,
    reader,
    notifier,
    describe: `sqlite:${file}`,
    async close() {
      await notifier.close();
      await reader.close();
      await db.destroy();
    },
  };
}

async function openPostgres(options: DatabaseOptions, onError: (e: Error) => void): Promise<DatabaseHandle> {
  const url = options.databaseUrl!;
  const schema = options.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid database schema name '${schema}'`);
  const types = { getTypeParser: (oid: number, format?: string) => (oid === int8Oid ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };
  const connectionOptions = { connectionString: url, types, ...(schema ? { options: `-c search_path=${schema}` } : {}) };
  if (schema) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } catch (e) {
      // IF NOT EXISTS is not atomic: nodes starting together can race; the loser sees the winner's
      // schema as a duplicate, which is exactly the outcome it wanted.
      const code = (e as { code?: string }).code;
      if (code !== '23505' && code !== '42P06') throw e;
    } finally {
      await c.end();
    }
  }
  const pool = new pg.Pool({ ...connectionOptions, max: options.poolSize ?? 10 });
  pool.on('error', onError);
  const notifier = createPostgresNotifier({ pool, connect: () => new pg.Client(connectionOptions), onError });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Connects on first use: only processes that run the engine open it.
  const leasePool = new pg.Pool({ ...connectionOptions, max: 1 });
  leasePool.on('error', onError);
  const leaseDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: leasePool }) });
  const reads = options.postgresReads ?? { poolSize: 4, timeoutMs: defaultQueryTimeoutMs };
  // statement_timeout is sent at connect (a startup parameter), so it holds for this pool only;
  // connectionTimeoutMillis bounds the wait for a free connection (postgres-reader.ts: postgresReadError).
  const readPool = new pg.Pool({ ...connectionOptions, max: reads.poolSize, statement_timeout: reads.timeoutMs, connectionTimeoutMillis: reads.timeoutMs });
  readPool.on('error', onError);
  const postgresReader = createPostgresReader(readPool, { timeoutMs: reads.timeoutMs, cancel: (pid) => pool.query('select pg_cancel_backend($1)', [pid]) });
  return {
    db,
    leaseDb,
    caps: postgresCapabilities,
    postgresReader,
    notifier,
    describe: redactUrl(url) + (schema ? ` (schema ${schema})` : ''),
    async close() {
      await notifier.close();
      await readPool.end();
      await leaseDb.destroy();
      await db.destroy();
    },
  };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}
