import { errors } from '../../domain/errors.js';

const transientPostgres = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300']);

/**
 * Errors a retry can fix: PostgreSQL serialization failures and deadlocks (the other transaction
 * won), lock timeouts, server restarts and too many connections; SQLite busy/locked; lost or
 * refused connections.
 */
export function isTransientDbError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return transientPostgres.has(code) || code.startsWith('08') || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'ECONNREFUSED' || code === 'ECONNRESET';
}

/** 503 with Retry-After: 1, for a database that stays busy or cannot be reached. */
export function databaseUnavailableError(): Error {
  return errors.serviceUnavailable('The database is busy or unreachable; retry shortly.', 1);
}

/**
 * Runs `fn`, retrying transient database errors a few times with a short jittered pause; if they
 * persist the caller gets a 503 with Retry-After (never a 500: nothing is wrong with the request).
 */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransientDbError(e)) throw e;
      if (i >= attempts) throw databaseUnavailableError();
      await new Promise((r) => setTimeout(r, 5 * 2 ** i + Math.random() * 10));
    }
  }
}
