import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { defaultQueryTimeoutMs, queryAbandonedError, queryTimeLimitError, queryWaitLimitError } from './query-time-limit.js';
import { statementCache } from './statement-cache.js';

/**
 * A read-only second connection to the SQLite file, for the API's hot reads (get by id, list
 * pages, counts). The write connection sits behind Kysely's driver mutex, so through it a read
 * waited for any open transaction (a group commit, an engine batch) and paid Kysely's executor on
 * every call; this connection runs a cached prepared statement directly. In WAL mode it sees what
 * was committed when each statement starts and does not wait for the writer's open transaction.
 * List pages come back as value arrays (`values`), which better-sqlite3 builds in less than half
 * the time of row objects (decision 0010 row 15).
 *
 * better-sqlite3 runs a statement synchronously, so a query that visits many rows stalls every
 * request and the engine meanwhile (a count, or a `$filter` no index narrows: 0.1–0.9 s per
 * million actions). So (decision 0010 row 16):
 * - aggregates (`aggregate`: `$count`) always run on a worker thread with its own read-only
 *   connection; their answer is one row, so the hand-over costs nothing;
 * - list queries start on the event loop with a scan budget: the SQL calls `scanBudgetFunction`
 *   once per row it examines (action-store.ts adds the term to lists and counts), and past
 *   `scanBudgetRows` the query is abandoned (~20–50 ms in) and run again on the worker. Pages that
 *   an index serves never get near the budget and stay on the event loop, where they cost the least.
 * On the worker the same function ends a query that runs past the time limit (it answers 400):
 * better-sqlite3 has no other way to interrupt a statement. One that waited the whole limit for
 * its turn is refused unrun (503), so no request waits on unboundedly many slow ones. And one
 * whose `signal` aborts (its client went away) is dropped from the queue, or stopped if it runs:
 * a client that gives up and asks again does not leave its first query to hold the worker.
 */
export interface SqliteReader {
  /** The first row as an object, or undefined; on the event loop, for bounded lookups. */
  row<R>(sql: string, parameters: readonly unknown[]): R | undefined;
  /**
   * Every row as an array of column values, in the statement's column order: on the event loop
   * while the statement stays within the scan budget, else on the worker. `signal`: see `aggregate`.
   */
  values(sql: string, parameters: readonly unknown[], signal?: AbortSignal): Promise<unknown[][]>;
  /**
   * The first row, computed off the event loop; rejects with 400 after the time limit. Once
   * `signal` aborts, the query is dropped unrun or stopped, and rejects (`queryAbandonedError`).
   */
  aggregate<R>(sql: string, parameters: readonly unknown[], signal?: AbortSignal): Promise<R | undefined>;
  /** list queries moved to the worker for exceeding the scan budget, since the reader opened */
  readonly offloaded: number;
  /** worker queries dropped unrun or stopped because their `signal` aborted, since the reader opened */
  readonly abandoned: number;
  close(): Promise<void>;
}

export interface SqliteReaderOptions {
  /** how long one query may run on the worker (default 30 s) */
  queryTimeoutMs?: number;
  /** rows a list query may examine on the event loop before it moves to the worker (default 50,000) */
  scanBudgetRows?: number;
}

/** The SQL function a list query calls once per examined row, with any column as its argument. */
export const scanBudgetFunction = 'bulwark_scan_budget';

class ScanBudgetExceeded extends Error {}

export function openSqliteReader(file: string, options: SqliteReaderOptions = {}): SqliteReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  const budget = options.scanBudgetRows ?? 50_000;
  let examined = 0;
  let offloaded = 0;
  // Not deterministic, and given a column: SQLite calls it for every row, never once per query.
  db.function(scanBudgetFunction, { deterministic: false }, (_column: unknown) => {
    if (++examined > budget) throw new ScanBudgetExceeded();
    return 1;
  });
  // Statements by SQL text (values are bound, so texts repeat), bounded; a statement set to raw
  // mode stays in it, hence one cache per mode.
  const objects = statementCache((sql) => db.prepare<unknown[], unknown>(sql), 200);
  const arrays = statementCache((sql) => db.prepare<unknown[], unknown[]>(sql).raw(true), 200);
  const worker = new ReadWorker(file, options.queryTimeoutMs ?? defaultQueryTimeoutMs);
  return {
    row<R>(sql: string, parameters: readonly unknown[]) {
      return objects(sql).get(...parameters) as R | undefined;
    },
    async values(sql: string, parameters: readonly unknown[], signal?: AbortSignal) {
      examined = 0;
      try {
        return arrays(sql).all(...parameters) as unknown[][];
      } catch (e) {
        if (!(e instanceof ScanBudgetExceeded)) throw e;
        offloaded++;
        return (await worker.run('values', sql, parameters, signal)) as unknown[][];
      }
    },
    aggregate<R>(sql: string, parameters: readonly unknown[], signal?: AbortSignal) {
      return worker.run('row', sql, parameters, signal) as Promise<R | undefined>;
    },
    get offloaded() {
      return offloaded;
    },
    get abandoned() {
      return worker.abandoned;
    },
    async close() {
      await worker.close();
      db.close();
    },
  };
}

/**
 * The worker's program. Plain JavaScript evaluated in the worker (the service also runs from the
 * TypeScript sources under the test runner, where no compiled worker file exists); it loads
 * better-sqlite3 from the path the service itself resolved. Here the scan budget function enforces
 * the time limit: it throws once the statement has run past its deadline, which makes SQLite
 * abandon the statement, and the worker goes on with the next. The per-row call back into
 * JavaScript is also what lets `terminate()` stop a statement (closing, or the safety net below):
 * a statement runs in one native call, and V8 can only stop the thread when it re-enters
 * JavaScript; one that never calls back would run on, burning a core, until it ended.
 */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 10000');
const timeLimit = new Error('time limit');
const abandoned = new Error('abandoned');
// The id of a query its caller gave up on, written by the main thread (ReadWorker.abandon).
const abandon = new Int32Array(workerData.abandon);
let deadline = Infinity;
let examined = 0;
let running = 0;
db.function(workerData.scanBudgetFunction, { deterministic: false }, (column) => {
  if ((++examined & 1023) === 0) {
    if (Atomics.load(abandon, 0) === running) throw abandoned;
    if (Date.now() > deadline) throw timeLimit;
  }
  return 1;
});
const caches = { row: new Map(), values: new Map() };
parentPort.on('message', ({ id, kind, sql, parameters, startBy }) => {
  if (Atomics.load(abandon, 0) === id) return parentPort.postMessage({ id, error: { message: 'abandoned', abandoned: true } });
  // Waited behind other queries for the whole limit: refused unrun (the caller answers 503).
  if (Date.now() > startBy) return parentPort.postMessage({ id, error: { message: 'not started in time', waitLimit: true } });
  examined = 0;
  running = id;
  deadline = Date.now() + workerData.timeoutMs;
  try {
    const cache = caches[kind];
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = kind === 'values' ? db.prepare(sql).raw(true) : db.prepare(sql);
      if (cache.size >= 100) cache.delete(cache.keys().next().value);
      cache.set(sql, stmt);
    }
    parentPort.postMessage({ id, result: kind === 'values' ? stmt.all(...parameters) : stmt.get(...parameters) });
  } catch (e) {
    parentPort.postMessage({ id, error: { message: String(e && e.message), code: e && e.code, timeLimit: e === timeLimit, abandoned: e === abandoned } });
  } finally {
    deadline = Infinity;
    running = 0;
  }
});
`;

interface Job {
  id: number;
  kind: 'row' | 'values';
  sql: string;
  parameters: readonly unknown[];
  /** epoch ms: not started by then, the query is refused unrun */
  startBy: number;
  resolve(row: unknown): void;
  reject(e: unknown): void;
  /** stops listening to the caller's signal */
  release(): void;
}

/**
 * One worker thread, started on first use, running one query at a time in arrival order. A query
 * waits for its turn up to the time limit (past it, it is refused unrun: 503), then runs up to the
 * time limit (past it, it is stopped: 400); so a burst of slow queries is answered within twice the
 * limit each, not one limit after another. The worker is handed one query at a time (the next when
 * the last has answered), so a query its caller abandons while it waits is simply taken out of the
 * queue; one that runs sees its id in the shared `abandon` cell at its next scan-budget call.
 */
class ReadWorker {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;
  private readonly abandonCell = new Int32Array(new SharedArrayBuffer(4));
  /** queries dropped or stopped for their caller's signal */
  abandoned = 0;
  private readonly module = createRequire(import.meta.url).resolve('better-sqlite3');

  constructor(
    private readonly file: string,
    private readonly timeoutMs: number,
  ) {}

  run(kind: Job['kind'], sql: string, parameters: readonly unknown[], signal?: AbortSignal): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('database closed'));
    if (signal?.aborted) {
      this.abandoned++;
      return Promise.reject(queryAbandonedError());
    }
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, kind, sql, parameters, startBy: Date.now() + this.timeoutMs, resolve, reject, release: () => {} };
      if (signal) {
        const onAbort = () => this.abandon(job);
        signal.addEventListener('abort', onAbort, { once: true });
        job.release = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(job);
      if (this.queue.length === 1) this.postHead();
    });
  }

  /** The caller gave up: a waiting query leaves the queue; the running one is stopped by the worker. */
  private abandon(job: Job): void {
    const at = this.queue.indexOf(job);
    if (at < 0) return; // answered meanwhile
    if (at === 0) {
      Atomics.store(this.abandonCell, 0, job.id);
      return;
    }
    this.queue.splice(at, 1);
    this.abandoned++;
    job.release();
    job.reject(queryAbandonedError());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const job of this.queue.splice(0)) {
      job.release();
      job.reject(new Error('database closed'));
    }
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  /** Hands the worker the query at the head of the queue, if any. */
  private postHead(): void {
    const job = this.queue[0];
    if (!job) {
      this.worker?.unref();
      return;
    }
    const worker = this.worker ?? this.start();
    // Referenced only while it owes answers: an idle worker never keeps the process alive.
    worker.ref();
    worker.postMessage({ id: job.id, kind: job.kind, sql: job.sql, parameters: job.parameters, startBy: job.startBy });
    this.armTimer();
  }

  private start(): Worker {
    const workerData = { module: this.module, file: this.file, scanBudgetFunction, timeoutMs: this.timeoutMs, abandon: this.abandonCell.buffer };
    const worker = new Worker(workerSource, { eval: true, workerData });
    worker.unref();
    let crash: Error | undefined;
    worker.on('message', (m: { id: number; result?: unknown; error?: { message: string; code?: string; timeLimit?: boolean; waitLimit?: boolean; abandoned?: boolean } }) => {
      const job = this.queue[0];
      if (!job || job.id !== m.id) return;
      this.queue.shift();
      clearTimeout(this.timer);
      job.release();
      if (m.error?.abandoned) {
        this.abandoned++;
        job.reject(queryAbandonedError());
      } else if (m.error?.timeLimit) job.reject(this.timeLimitError());
      else if (m.error?.waitLimit) job.reject(queryWaitLimitError(this.timeoutMs));
      else if (m.error) job.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else job.resolve(m.result);
      this.postHead();
    });
    worker.on('error', (e) => (crash = e));
    worker.on('exit', () => {
      if (this.worker !== worker) return; // stopped on purpose
      // Transient: the caller's retry gets a new worker.
      this.restart(Object.assign(new Error(`the read worker stopped${crash ? `: ${crash.message}` : ''}`), { code: 'ECONNRESET' }));
    });
    this.worker = worker;
    return worker;
  }

  private timeLimitError(): Error {
    return queryTimeLimitError(this.timeoutMs);
  }

  /**
   * A safety net behind the worker's own deadline, for a statement that does not call the scan
   * budget function: the worker is replaced, though its thread runs on until the statement ends.
   */
  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.restart(this.timeLimitError()), this.timeoutMs + 5_000);
    this.timer.unref();
  }

  /** Fails the running query with `reason`, terminates the worker and hands a new one the rest of the queue. */
  private restart(reason: Error): void {
    clearTimeout(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
    const failed = this.queue.shift();
    failed?.release();
    failed?.reject(reason);
    this.postHead();
  }
}
