import { Kysely, PostgresDialect, SqliteDialect, sql, type RawBuilder } from 'kysely';
import type { Database } from './sql/schema.js';

/**
 * What differs between the two stores, as capability flags and small SQL builders, so the rest of
 * the SQL is written once (house style §3). Nothing outside `storage/` sees the dialect name.
 */
export interface DialectCapabilities {
  readonly dialect: 'sqlite' | 'postgres';
  /** `FOR UPDATE SKIP LOCKED` is available for job claims. */
  readonly skipLocked: boolean;
  /** `SELECT … FOR UPDATE` row locks exist (SQLite serialises writers instead). */
  readonly rowLocks: boolean;
  /** Cross-process notifications (LISTEN/NOTIFY); without it, wake-ups are in-process only. */
  readonly crossProcessNotify: boolean;
  /**
   * Queries run synchronously on the event loop (better-sqlite3): a request's work is not broken
   * up by waiting for the database, so a busy turn of the loop lasts as long as every request
   * ready in it (decision 0010, row 13).
   */
  readonly synchronousQueries: boolean;
  /** Column type for text that must sort by code point (COLLATE "C" on PostgreSQL). */
  readonly textType: RawBuilder<unknown>;
  /** Column type for 64-bit integers (epoch ms, sequence numbers). */
  readonly bigintType: 'integer' | 'bigint';
  /** `haystack` contains `needle` (case-sensitive); never NULL-safe by itself. */
  containsSql(haystack: RawBuilder<unknown>, needle: string): RawBuilder<boolean>;
  /** Appends JSON values, in order, to a JSON array held in a TEXT column. */
  appendJsonSql(column: string, jsonValues: string | readonly string[]): RawBuilder<string>;
}

export const sqliteCapabilities: DialectCapabilities = {
  dialect: 'sqlite',
  skipLocked: false,
  rowLocks: false,
  crossProcessNotify: false,
  synchronousQueries: true,
  textType: sql`text`,
  bigintType: 'integer',
  containsSql: (haystack, needle) => sql<boolean>`instr(${haystack}, ${needle}) > 0`,
  appendJsonSql: (column, jsonValues) =>
    sql<string>`json_insert(${sql.ref(column)}, ${sql.join((typeof jsonValues === 'string' ? [jsonValues] : jsonValues).map((v) => sql`'$[#]', json(${v})`))})`,
};

export const postgresCapabilities: DialectCapabilities = {
  dialect: 'postgres',
  skipLocked: true,
  rowLocks: true,
  crossProcessNotify: true,
  synchronousQueries: false,
  textType: sql`text collate "C"`,
  bigintType: 'bigint',
  containsSql: (haystack, needle) => sql<boolean>`strpos(${haystack}, ${needle}) > 0`,
  appendJsonSql: (column, jsonValues) =>
    sql<string>`(${sql.ref(column)}::jsonb || jsonb_build_array(${sql.join((typeof jsonValues === 'string' ? [jsonValues] : jsonValues).map((v) => sql`${v}::jsonb`))}))::text`,
};

export type { Kysely, Database };
export { PostgresDialect, SqliteDialect };
