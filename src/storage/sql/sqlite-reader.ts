import BetterSqlite3 from 'better-sqlite3';

/**
 * A read-only second connection to the SQLite file, for the API's hot reads (get by id, list
 * pages, counts). The write connection sits behind Kysely's driver mutex, so through it a read
 * waited for any open transaction (a group commit, an engine batch) and paid Kysely's executor on
 * every call; this connection runs a cached prepared statement directly. In WAL mode it sees what
 * was committed when each statement starts and does not wait for the writer's open transaction.
 * List pages come back as value arrays (`values`), which better-sqlite3 builds in less than half
 * the time of row objects (decision 0010 row 15).
 */
export interface SqliteReader {
  /** The first row as an object, or undefined. */
  row<R>(sql: string, parameters: readonly unknown[]): R | undefined;
  /** Every row as an array of column values, in the statement's column order. */
  values(sql: string, parameters: readonly unknown[]): unknown[][];
  close(): void;
}

export function openSqliteReader(file: string): SqliteReader {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  // Statements by SQL text (values are bound, so texts repeat), bounded; a statement set to raw
  // mode stays in it, hence one cache per mode.
  const objects = boundedCache((sql) => db.prepare<unknown[], unknown>(sql));
  const arrays = boundedCache((sql) => db.prepare<unknown[], unknown[]>(sql).raw(true));
  return {
    row<R>(sql: string, parameters: readonly unknown[]) {
      return objects(sql).get(...parameters) as R | undefined;
    },
    values(sql: string, parameters: readonly unknown[]) {
      return arrays(sql).all(...parameters) as unknown[][];
    },
    close() {
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
