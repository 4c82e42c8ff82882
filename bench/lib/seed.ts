import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { countActions, sampleActionIds, sqliteFile, withPg, type Store } from './store.js';
import { copyInto } from './pg-copy.js';
import { actionColumns, parameterColumns, seededAction } from './seed-rows.js';
import type { Batch, BatchRequest } from './seed-worker.js';

const batchRows = 50_000;
const sampleSize = 20_000;

/**
 * Seeds actions straight into the database of a stopped service: secondary indexes dropped and
 * rebuilt from their exact DDL, one transaction per 50,000 rows (prepared statements on SQLite,
 * `COPY … FROM STDIN` on PostgreSQL, where a worker thread generates the next batch while one is
 * being copied). Keeps a uniform random sample of the seeded ids (reservoir) for get-by-id, or of
 * the stored ones when nothing needed seeding.
 */
export class Seeder {
  private seeded = 0;
  readonly sample: string[] = [];
  /** seconds spent writing rows and rebuilding indexes in the last round */
  phases = { rows: 0, indexes: 0 };

  constructor(private readonly store: Store, private readonly tenantId: string) {}

  /** Tops the store up to `total` actions; returns how many were added and how long it took. */
  async seedTo(total: number): Promise<{ added: number; seconds: number; stored: number; rowsSeconds: number; indexSeconds: number }> {
    const started = performance.now();
    const existing = await countActions(this.store);
    const add = Math.max(0, total - existing);
    if (add > 0) {
      if (this.store.kind === 'sqlite') await this.seedSqlite(add);
      else await this.seedPostgres(add);
    }
    // The earlier scenarios' creates already filled the store to this size: get reads those.
    if (this.sample.length === 0 && existing > 0) this.sample.push(...(await sampleActionIds(this.store, this.tenantId, sampleSize)));
    return { added: add, seconds: (performance.now() - started) / 1000, stored: existing + add, rowsSeconds: this.phases.rows, indexSeconds: this.phases.indexes };
  }

  private remember(ids: string[]): void {
    for (const id of ids) {
      this.seeded++;
      if (this.sample.length < sampleSize) this.sample.push(id);
      else {
        const j = Math.floor(Math.random() * this.seeded);
        if (j < sampleSize) this.sample[j] = id;
      }
    }
  }

  /** Yields the round's batches; the worker already generates batch k+1 while the caller writes batch k. */
  private async *batches(add: number, firstSeq: number): AsyncGenerator<Batch> {
    const worker = new Worker(new URL('./seed-worker.js', import.meta.url));
    const n0 = this.seeded;
    const now = Date.now();
    let waiting: { resolve: (b: Batch) => void; reject: (e: Error) => void } | undefined;
    worker.on('message', (b: Batch) => waiting?.resolve(b));
    worker.on('error', (e) => waiting?.reject(e));
    const ask = (from: number): Promise<Batch> | undefined => {
      if (from >= add) return undefined;
      const request: BatchRequest = { from, to: Math.min(add, from + batchRows), n: n0 + from, firstSeq, tenantId: this.tenantId, now, add };
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        worker.postMessage(request);
      });
    };
    try {
      let pending = ask(0);
      for (let from = 0; pending; from += batchRows) {
        const batch = await pending;
        pending = ask(from + batchRows);
        this.remember(batch.ids);
        yield batch;
      }
    } finally {
      await worker.terminate();
    }
  }

  private async seedSqlite(add: number): Promise<void> {
    const db = new BetterSqlite3(sqliteFile(this.store));
    try {
      // The service is stopped: load without a journal, then hand the file back in WAL mode.
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('cache_size = -262144');
      db.pragma('threads = 2'); // parallel sorts for CREATE INDEX
      db.pragma('temp_store = MEMORY');
      const maxSeq = (db.prepare('select coalesce(max(seq), 0) as m from actions').get() as { m: number }).m;
      const insertAction = db.prepare(`insert into actions (${actionColumns.join(', ')}) values (${actionColumns.map(() => '?').join(', ')})`);
      const insertParameter = db.prepare(`insert into action_parameters (${parameterColumns.join(', ')}) values (?, ?, ?, ?)`);
      // Generated in this thread: a worker's structured clone of the cells costs more than making them.
      const now = Date.now();
      const write = db.transaction((from: number, to: number) => {
        const ids: string[] = [];
        for (let k = from; k < to; k++) {
          const row = seededAction(this.seeded + ids.length, maxSeq + 1 + k, this.tenantId, now, k / add);
          insertAction.run(row.action);
          for (const p of row.parameters) insertParameter.run(p);
          ids.push(row.id);
        }
        this.remember(ids);
      });
      // Secondary indexes are dropped for the load and rebuilt from their exact DDL afterwards:
      // one sort per index instead of a million random B-tree inserts.
      const indexes = db.prepare("select name, sql from sqlite_master where type = 'index' and tbl_name in ('actions', 'action_parameters') and sql is not null").all() as { name: string; sql: string }[];
      for (const i of indexes) db.exec(`drop index "${i.name}"`);
      const t0 = performance.now();
      try {
        for (let from = 0; from < add; from += batchRows) write(from, Math.min(add, from + batchRows));
      } finally {
        const t1 = performance.now();
        for (const i of indexes) db.exec(i.sql);
        this.phases = { rows: (t1 - t0) / 1000, indexes: (performance.now() - t1) / 1000 };
      }
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
  }

  private async seedPostgres(add: number): Promise<void> {
    await withPg(this.store, async (c) => {
      const maxSeq = Number((await c.query<{ m: string }>('select coalesce(max(seq), 0) as m from actions')).rows[0]!.m);
      // As on SQLite: drop the secondary indexes (not the primary key), load, rebuild from pg_indexes' DDL.
      const indexes = (
        await c.query<{ name: string; def: string }>(
          `select i.indexname as name, i.indexdef as def from pg_indexes i where i.schemaname = current_schema() and i.tablename in ('actions', 'action_parameters')
             and not exists (select 1 from pg_constraint k where k.conname = i.indexname and k.connamespace = current_schema()::regnamespace)`,
        )
      ).rows;
      await c.query("set maintenance_work_mem = '512MB'");
      for (const i of indexes) await c.query(`drop index "${i.name}"`);
      const t0 = performance.now();
      try {
        for await (const batch of this.batches(add, maxSeq + 1)) {
          await c.query('begin');
          await copyInto(c, 'actions', actionColumns, batch.actions);
          await copyInto(c, 'action_parameters', parameterColumns, batch.parameters);
          await c.query('commit');
        }
      } finally {
        const t1 = performance.now();
        for (const i of indexes) await c.query(i.def);
        this.phases = { rows: (t1 - t0) / 1000, indexes: (performance.now() - t1) / 1000 };
      }
      await c.query(`select setval(pg_get_serial_sequence('actions', 'seq'), (select max(seq) from actions))`);
      // What autovacuum would do after a bulk load; the planner needs row counts at 1,000,000 rows.
      await c.query('analyze actions');
      await c.query('analyze action_parameters');
    });
  }
}
