import type pg from 'pg';
import { queryAbandonedError, queryTimeLimitError, queryWaitLimitError } from './query-time-limit.js';
import { databaseUnavailableError } from './transient.js';

/**
 * PostgreSQL's lists and counts: a pool of their own whose connections stop any statement past
 * the time limit (`statement_timeout`) and whose callers wait at most the limit for a connection
 * (decision 0015).
 *
 * A query whose caller gives up (`signal`: the client closed the connection) is cancelled in the
 * server (`pg_cancel_backend`), and its connection is then closed, not pooled again: a cancel
 * arrives asynchronously, and one that came late would stop whatever that connection ran next.
 * One whose caller gave up while it waited for a connection is not sent at all. (A cancel that
 * reaches the server before the statement does finds nothing to stop; the statement then runs to
 * its end or to the limit, and its connection is still closed afterwards.)
 */
export interface PostgresReader {
  /** The rows of one statement, within the limits; rejects as `postgresReadError` says. */
  rows<R>(sql: string, parameters: readonly unknown[], signal?: AbortSignal): Promise<R[]>;
  /** queries not sent or cancelled because their `signal` aborted, since the reader opened */
  readonly abandoned: number;
}

export interface PostgresReaderOptions {
  /** the pool's time limit (its `statement_timeout` and `connectionTimeoutMillis`), for messages */
  timeoutMs: number;
  /** cancels what the server process `pid` runs (on another connection) */
  cancel(pid: number): Promise<unknown>;
}

export function createPostgresReader(pool: pg.Pool, options: PostgresReaderOptions): PostgresReader {
  let abandoned = 0;
  const gaveUp = () => {
    abandoned++;
    return queryAbandonedError();
  };
  return {
    async rows<R>(sql: string, parameters: readonly unknown[], signal?: AbortSignal): Promise<R[]> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw postgresReadError(e, options.timeoutMs);
      }
      if (signal?.aborted) {
        client.release();
        throw gaveUp();
      }
      let cancelled = false;
      const onAbort = () => {
        cancelled = true;
        const pid = (client as unknown as { processID: number | null }).processID;
        if (pid !== null) void options.cancel(pid).catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return (await client.query(sql, parameters as unknown[])).rows as R[];
      } catch (e) {
        if (cancelled) throw gaveUp();
        throw postgresReadError(e, options.timeoutMs);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        client.release(cancelled);
      }
    },
    get abandoned() {
      return abandoned;
    },
  };
}

/**
 * What a list or count on PostgreSQL's read pool failed with, as the caller should see it:
 * - SQLSTATE 57014 (query_canceled): past `statement_timeout` (or, rarely, cancelled by an
 *   administrator, which reads the same) → 400. The code, not the message: servers translate theirs;
 * - pg-pool gave up waiting for a free connection (`connectionTimeoutMillis`) → 503;
 * - a new connection did not open within that time: the database is hung or unreachable → 503
 *   at once ("busy or unreachable"), not retried: retries would each wait the limit again.
 * pg-pool's two errors carry no code, only these messages.
 */
export function postgresReadError(e: unknown, timeoutMs: number): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === '57014') return queryTimeLimitError(timeoutMs);
  if (!(e instanceof Error) || code !== undefined) return e;
  if (e.message === 'timeout exceeded when trying to connect') return queryWaitLimitError(timeoutMs);
  if (e.message === 'Connection terminated due to connection timeout') return databaseUnavailableError();
  return e;
}
