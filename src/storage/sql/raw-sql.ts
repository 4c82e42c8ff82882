import { CompiledQuery, type Kysely, type QueryResult, type Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

const numbered = new Map<string, string>();

/**
 * Runs hand-written SQL with bound parameters, bypassing Kysely's query builder. Only for the few
 * statements the engine runs several times per action, where building and compiling a Kysely query
 * cost more than executing it (docs/decisions/0010-performance.md). Statements are written once
 * with `?` placeholders; PostgreSQL gets them numbered (`$1`, `$2`, …).
 */
export function runSql<R = Record<string, unknown>>(executor: Executor, caps: DialectCapabilities, text: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
  let sqlText = text;
  if (caps.dialect === 'postgres') {
    sqlText = numbered.get(text) ?? '';
    if (!sqlText) {
      let n = 0;
      sqlText = text.replace(/\?/g, () => `$${++n}`);
      numbered.set(text, sqlText);
    }
  }
  return executor.executeQuery<R>(CompiledQuery.raw(sqlText, parameters as unknown[]));
}

export type RowsColumn = readonly [name: string, type: 'text' | 'bigint'];

/**
 * Rows bound as a derived table named `v`, for the engine's statements that read or write many
 * rows at once (`… from ${table} where …`); `rows` hold one value per column, in order.
 * - PostgreSQL: `unnest` over one array parameter per column. The statement text is the same for
 *   any number of rows and is planned in ~0.1 ms; a `union all` of 60 one-row selects took 1.0–1.3
 *   ms to plan on every call, and its text changed with the row count (decision 0010, row 19).
 * - SQLite (no arrays): a `union all` of one-row selects, which it parses and plans cheaply.
 */
export function rowsTable(caps: DialectCapabilities, columns: readonly RowsColumn[], rows: readonly (readonly unknown[])[]): { sql: string; parameters: unknown[] } {
  if (caps.dialect === 'postgres') {
    return {
      sql: `unnest(${columns.map(([, type]) => `?::${type}[]`).join(', ')}) as v(${columns.map(([name]) => name).join(', ')})`,
      parameters: columns.map((_, c) => rows.map((r) => r[c])),
    };
  }
  const select = `select ${columns.map(([name, type]) => `cast(? as ${type}) as ${name}`).join(', ')}`;
  return { sql: `(${rows.map(() => select).join(' union all ')}) as v`, parameters: rows.flat() };
}

/** `FOR UPDATE` where row locks exist. */
export const forUpdate = (caps: DialectCapabilities) => (caps.rowLocks ? ' for update' : '');

/** SQL that appends `n` JSON values (bound parameters) to a TEXT column holding a JSON array. */
export function appendJsonText(caps: DialectCapabilities, column: string, n: number): string {
  const values = Array.from({ length: n }, () => (caps.dialect === 'postgres' ? '?::jsonb' : `'$[#]', json(?)`)).join(', ');
  return caps.dialect === 'postgres' ? `(${column}::jsonb || jsonb_build_array(${values}))::text` : `json_insert(${column}, ${values})`;
}
