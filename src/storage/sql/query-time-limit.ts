import { errors } from '../../domain/errors.js';

/** The time limit of list and count queries unless configured (`sqliteReads` / `postgresReads`). */
export const defaultQueryTimeoutMs = 30_000;

/**
 * Time limits of list and count queries, the same on both stores (SQLite's read worker,
 * PostgreSQL's read pool): a query may wait for its turn up to the limit, then run up to the
 * limit, so every answer comes within twice the limit.
 *
 * Stopped while running: the caller's request is too broad, so 400 with what to do about it.
 */
export function queryTimeLimitError(timeoutMs: number): Error {
  return errors.badRequest(`The query ran longer than ${timeoutMs / 1000} s and was stopped; narrow $filter.`);
}

/**
 * Never started: other expensive queries held the reader (SQLite) or the read pool's connections
 * (PostgreSQL) for the whole limit. Nothing is wrong with this request, so 503, with Retry-After
 * set to the limit, by when whatever was running has ended.
 */
export function queryWaitLimitError(timeoutMs: number): Error {
  const seconds = timeoutMs / 1000;
  return errors.serviceUnavailable(`Other long queries kept this one from starting within ${seconds} s; retry later, or narrow $filter.`, Math.ceil(seconds));
}

/**
 * The caller went away (its client closed the connection) before the answer: the query was
 * dropped from the reader's queue, or stopped. Nobody receives this answer; the request's log line
 * says what happened.
 */
export function queryAbandonedError(): Error {
  return errors.badRequest('The client closed the connection before the answer; its query was stopped.');
}
