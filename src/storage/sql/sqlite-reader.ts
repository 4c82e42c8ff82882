import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { errors } from '../../domain/errors.js';

/**
 * A read-only second connection to the SQLite file, for the API's hot reads (get by id, list
 * pages, counts). The write connection sits behind Kysely's driver mutex, so through it a read
 * waited for any open transaction (a group commit, an engine batch) and paid Kysely's executor on
 * every call; this connection runs a cached prepared statement directly. In WAL mode it sees what
 * was committed when each statement starts and does not wait for the writer's open transaction.
 * List pages come back as value arrays (`values`), which better-sqlite3 builds in less than half
 * the time of row objects (decision 0010 row 15).
 *
 * Aggregates (`aggregate`: `$count`) run on a worker thread with its own read-only connection:
 * a count visits every matching row (0.1–0.9 s per million), and better-sqlite3 runs a statement
 * synchronously, so on the event loop it would stall every request and the engine meanwhile. Their
 * answers are one row, so the hand-over costs nothing; a count that outlasts its time limit is
 * stopped by terminating the worker (SQLite offers better-sqlite3 no other way to interrupt it).
 */
export interface SqliteReader {
  /** The first row as an object, or undefined. */
  row<R>(sql: string, parameters: readonly unknown[]): R | undefined;
  /** Every row as an array of column values, in the statement's column order. */
  values(sql: string, parameters: readonly unknown[]): unknown[][];
  /** The first row, computed off the event loop; rejects with 400 after the time limit. */
  aggregate<R>(sql: string, parameters: readonly unknown[]): Promise<R | undefined>;
  close(): Promise<void>;
}

export interface SqliteReaderOptions {
  /** how long one aggregate may run (default 30 s) */
  aggregateTimeoutMs?: number;
}

export function openSqliteReader(file: string, options: SqliteReaderOptions = {}): SqliteReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  // Statements by SQL text (values are bound, so texts repeat), bounded; a statement set to raw
  // mode stays in it, hence one cache per mode.
  const objects = boundedCache((sql) => db.prepare<unknown[], unknown>(sql));
  const arrays = boundedCache((sql) => db.prepare<unknown[], unknown[]>(sql).raw(true));
  const aggregates = new AggregateWorker(file, options.aggregateTimeoutMs ?? 30_000);
  return {
    row<R>(sql: string, parameters: readonly unknown[]) {
      return objects(sql).get(...parameters) as R | undefined;
    },
    values(sql: string, parameters: readonly unknown[]) {
      return arrays(sql).all(...parameters) as unknown[][];
    },
    aggregate<R>(sql: string, parameters: readonly unknown[]) {
      return aggregates.run<R>(sql, parameters);
    },
    async close() {
      await aggregates.close();
      db.close();
    },
  };
}

function boundedCache<S>(prepare: (sql: string) => S, max = 200): (sql: string) => S {
  const cache = new Map<string, S>();
  return (sql) => {
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = prepare(sql);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

/**
 * The worker's program. Plain JavaScript evaluated in the worker (the service also runs from the
 * TypeScript sources under the test runner, where no compiled worker file exists); it loads
 * better-sqlite3 from the path the service itself resolved.
 */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 10000');
const statements = new Map();
parentPort.on('message', ({ id, sql, parameters }) => {
  try {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      if (statements.size >= 100) statements.delete(statements.keys().next().value);
      statements.set(sql, stmt);
    }
    parentPort.postMessage({ id, row: stmt.get(...parameters) });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

interface Pending {
  resolve(row: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

/** One worker thread, started on first use, running one aggregate at a time in arrival order. */
class AggregateWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly module = createRequire(import.meta.url).resolve('better-sqlite3');

  constructor(
    private readonly file: string,
    private readonly timeoutMs: number,
  ) {}

  run<R>(sql: string, parameters: readonly unknown[]): Promise<R | undefined> {
    const worker = this.worker ?? this.start();
    // Referenced only while it owes answers: an idle worker never keeps the process alive.
    worker.ref();
    const id = this.nextId++;
    return new Promise<R | undefined>((resolve, reject) => {
      // The limit counts from submission: a count queued behind a long one may be refused too.
      const timer = setTimeout(() => this.stop(errors.badRequest(`The query ran longer than ${this.timeoutMs / 1000} s and was stopped; narrow $filter.`)), this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (row: unknown) => void, reject, timer });
      worker.postMessage({ id, sql, parameters });
    });
  }

  async close(): Promise<void> {
    await this.stop(new Error('database closed'));
  }

  private start(): Worker {
    const worker = new Worker(workerSource, { eval: true, workerData: { module: this.module, file: this.file } });
    worker.unref();
    worker.on('message', (m: { id: number; row?: unknown; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (this.pending.size === 0) worker.unref();
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(m.row);
    });
    worker.on('error', (e) => void this.stop(e));
    worker.on('exit', () => {
      if (this.worker === worker) void this.stop(Object.assign(new Error('the aggregate worker stopped'), { code: 'ECONNRESET' }));
    });
    this.worker = worker;
    return worker;
  }

  /** Ends the worker (interrupting whatever it runs) and fails everything it had; the next call starts a new one. */
  private async stop(reason: unknown): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(reason);
    }
    if (worker) await worker.terminate();
  }
}
