import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { onCleanup, removeDir, trackDir } from './cleanup.js';

/** Where the service under test keeps its data: a private SQLite dir, or a throwaway PostgreSQL schema. */
export interface Store {
  kind: 'sqlite' | 'postgres';
  /** always a private temp dir (config file, logs, and the SQLite database) */
  dataDir: string;
  databaseUrl?: string;
  schema?: string;
  /** the local PostgreSQL postmaster, whose backends' CPU is counted as the service's database CPU */
  dbPid?: number;
  describe: string;
}

export function createStore(kind: 'sqlite' | 'postgres', databaseUrl: string, keep: boolean): Store {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-bench-'));
  if (!keep) trackDir(dataDir);
  onCleanup('data dir', () => (keep ? undefined : removeDir(dataDir)));
  if (kind === 'sqlite') return { kind, dataDir, describe: `SQLite in ${dataDir}` };
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  onCleanup('drop schema', () => (keep ? undefined : dropSchema(databaseUrl, schema)));
  return { kind, dataDir, databaseUrl, schema, describe: `PostgreSQL ${redact(databaseUrl)} schema ${schema}` };
}

/** The store flags every `bulwark` command takes. */
export function storeArgs(store: Store): string[] {
  const args = ['--data-dir', store.dataDir];
  if (store.kind === 'postgres') args.push('--database-url', store.databaseUrl!, '--database-schema', store.schema!);
  return args;
}

export function sqliteFile(store: Store): string {
  return path.join(store.dataDir, 'bulwark.db');
}

export async function withPg<T>(store: Store, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: store.databaseUrl, options: `-c search_path=${store.schema}` });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** Engine work not yet done (jobs rows), read directly from the database, not through the service. */
export async function pendingJobs(store: Store): Promise<number> {
  if (store.kind === 'sqlite') {
    const db = new BetterSqlite3(sqliteFile(store), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('select count(*) as n from jobs').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  return withPg(store, async (c) => Number((await c.query<{ n: string }>('select count(*) as n from jobs')).rows[0]!.n));
}

export async function countActions(store: Store): Promise<number> {
  if (store.kind === 'sqlite') {
    const db = new BetterSqlite3(sqliteFile(store), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('select count(*) as n from actions').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  return withPg(store, async (c) => Number((await c.query<{ n: string }>('select count(*) as n from actions')).rows[0]!.n));
}

/** Up to `n` ids of the tenant's stored actions, drawn uniformly at random. */
export async function sampleActionIds(store: Store, tenantId: string, n: number): Promise<string[]> {
  const sql = 'select id from actions where tenant_id = $1 order by random() limit $2';
  if (store.kind === 'sqlite') {
    const db = new BetterSqlite3(sqliteFile(store), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare(sql.replace(/\$\d/g, '?')).all(tenantId, n) as { id: string }[]).map((r) => r.id);
    } finally {
      db.close();
    }
  }
  return withPg(store, async (c) => (await c.query<{ id: string }>(sql, [tenantId, n])).rows.map((r) => r.id));
}

/** Finds the postmaster behind our connections (when the server runs on this machine). */
export async function findPostmaster(store: Store): Promise<void> {
  if (store.kind !== 'postgres') return;
  try {
    // Read while the backend is still connected (it exits with the connection).
    store.dbPid = await withPg(store, async (c) => {
      const backend = Number((await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
      const stat = fs.readFileSync(`/proc/${backend}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    });
  } catch {
    /* remote server or no access: database CPU is not reported */
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
