import type BetterSqlite3 from 'better-sqlite3';

/**
 * Kysely's SQLite driver calls `prepare()` for every query, and preparing costs more than running
 * most of our statements. Kysely produces the same SQL text for the same query shape (values are
 * bound parameters), so statements are cached by text, LRU-bounded. better-sqlite3 statements are
 * safe to reuse: the driver runs each one to completion synchronously.
 */
export function withStatementCache(db: BetterSqlite3.Database, max = 500): BetterSqlite3.Database {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = db.prepare.bind(db);
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return (source: string) => {
        let stmt = cache.get(source);
        if (stmt) {
          cache.delete(source);
        } else {
          stmt = prepare(source);
          if (cache.size >= max) cache.delete(cache.keys().next().value!);
        }
        cache.set(source, stmt);
        return stmt;
      };
    },
  });
}
