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

interface Job {
  id: number;
  sql: string;
  parameters: readonly unknown[];
  resolve(row: unknown): void;
  reject(e: unknown): void;
}

/**
 * One worker thread, started on first use, running one aggregate at a time in arrival order. The
 * time limit runs for the aggregate the worker is running only: one is never refused for the time
 * it waited behind another.
 */
class AggregateWorker {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;
  private readonly module = createRequire(import.meta.url).resolve('better-sqlite3');

  constructor(
    private readonly file: string,
    private readonly timeoutMs: number,
  ) {}

  run<R>(sql: string, parameters: readonly unknown[]): Promise<R | undefined> {
    if (this.closed) return Promise.reject(new Error('database closed'));
    return new Promise<R | undefined>((resolve, reject) => {
      const job: Job = { id: this.nextId++, sql, parameters, resolve: resolve as (row: unknown) => void, reject };
      this.queue.push(job);
      this.post(job);
      if (this.queue.length === 1) this.armTimer();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const job of this.queue.splice(0)) job.reject(new Error('database closed'));
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private post(job: Job): void {
    const worker = this.worker ?? this.start();
    // Referenced only while it owes answers: an idle worker never keeps the process alive.
    worker.ref();
    worker.postMessage({ id: job.id, sql: job.sql, parameters: job.parameters });
  }

  private start(): Worker {
    const worker = new Worker(workerSource, { eval: true, workerData: { module: this.module, file: this.file } });
    worker.unref();
    let crash: Error | undefined;
    worker.on('message', (m: { id: number; row?: unknown; error?: { message: string; code?: string } }) => {
      const job = this.queue[0];
      if (!job || job.id !== m.id) return;
      this.queue.shift();
      clearTimeout(this.timer);
      if (this.queue.length > 0) this.armTimer();
      else worker.unref();
      if (m.error) job.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else job.resolve(m.row);
    });
    worker.on('error', (e) => (crash = e));
    worker.on('exit', () => {
      if (this.worker !== worker) return; // stopped on purpose
      // Transient: the caller's retry gets a new worker.
      this.restart(Object.assign(new Error(`the aggregate worker stopped${crash ? `: ${crash.message}` : ''}`), { code: 'ECONNRESET' }));
    });
    this.worker = worker;
    return worker;
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.restart(errors.badRequest(`The query ran longer than ${this.timeoutMs / 1000} s and was stopped; narrow $filter.`)), this.timeoutMs);
    this.timer.unref();
  }

  /** Fails the running aggregate with `reason`, replaces the worker (interrupting it) and hands the new one the rest of the queue. */
  private restart(reason: Error): void {
    clearTimeout(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
    this.queue.shift()?.reject(reason);
    for (const job of this.queue) this.post(job);
    if (this.queue.length > 0) this.armTimer();
  }
}
