import { errors } from '../../domain/errors.js';

/**
 * The answer to a list or count query stopped at the store's time limit (SQLite's read worker,
 * PostgreSQL's `statement_timeout` on the read pool): the caller's request is too broad, so 400
 * with what to do about it, the same on both stores.
 */
export function queryTimeLimitError(timeoutMs: number): Error {
  return errors.badRequest(`The query ran longer than ${timeoutMs / 1000} s and was stopped; narrow $filter.`);
}

/**
 * PostgreSQL stopped the statement (SQLSTATE 57014, query_canceled): past `statement_timeout`, or,
 * rarely, cancelled by an administrator, which reads the same. The code, not the message, is
 * checked: servers translate their messages.
 */
export function isQueryCanceled(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === '57014';
}
