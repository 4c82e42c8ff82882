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

/** `FOR UPDATE` where row locks exist. */
export const forUpdate = (caps: DialectCapabilities) => (caps.rowLocks ? ' for update' : '');

/** SQL that appends `n` JSON values (bound parameters) to a TEXT column holding a JSON array. */
export function appendJsonText(caps: DialectCapabilities, column: string, n: number): string {
  const values = Array.from({ length: n }, () => (caps.dialect === 'postgres' ? '?::jsonb' : `'$[#]', json(?)`)).join(', ');
  return caps.dialect === 'postgres' ? `(${column}::jsonb || jsonb_build_array(${values}))::text` : `json_insert(${column}, ${values})`;
}
