import type BetterSqlite3 from 'better-sqlite3';

/**
 * Kysely's SQLite driver calls `prepare()` for every query, and preparing costs more than running
 * most of our statements. Kysely produces the same SQL text for the same query shape (values are
 * bound parameters), so statements are cached by text, LRU-bounded. better-sqlite3 statements are
 * safe to reuse: the driver runs each one to completion synchronously. The instance's `prepare` is
 * replaced directly (a Proxy costs a trap on every property access).
 */
export function withStatementCache(db: BetterSqlite3.Database, max = 500): BetterSqlite3.Database {
  const cached = statementCache(db.prepare.bind(db) as (source: string) => BetterSqlite3.Statement, max);
  Object.defineProperty(db, 'prepare', { value: cached, configurable: true, writable: true });
  return db;
}

/** `prepare`, remembered by SQL text: the `max` most recently used statements are kept. */
export function statementCache<S>(prepare: (source: string) => S, max: number): (source: string) => S {
  const cache = new Map<string, S>();
  return (source) => {
    let stmt = cache.get(source);
    if (stmt !== undefined) {
      cache.delete(source);
    } else {
      stmt = prepare(source);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, stmt);
    return stmt;
  };
}
