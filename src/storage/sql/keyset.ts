import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { OrderByKey } from '../../odata/ast.js';
import { errors } from '../../domain/errors.js';
import type { KeysetPosition } from '../ports.js';
import { sortKeyFor } from './action-columns.js';

/**
 * Keyset paging over any `$orderby`. Order: each key with NULLs first ascending and last descending
 * (OData: null is the smallest value), then `seq` in the direction of the last key, so the order is
 * total and a plain index scan serves the common cases. The position of the last row on a page
 * becomes the `$skiptoken`, and the next page is "rows strictly after it" — page 10,000 costs the
 * same as page 1.
 */
export function orderByClauses(keys: readonly OrderByKey[]): RawBuilder<unknown>[] {
  const out = keys.map((k) => {
    const ref = sortKeyFor(k.property).expr;
    return k.direction === 'asc' ? sql`${ref} asc nulls first` : sql`${ref} desc nulls last`;
  });
  out.push(sql`actions.seq ${sql.raw(tiebreakDirection(keys))}`);
  return out;
}

export function tiebreakDirection(keys: readonly OrderByKey[]): 'asc' | 'desc' {
  return keys.at(-1)?.direction ?? 'asc';
}

/**
 * Rows strictly after `position` in the order above. The position must fit `keys` (one value of the
 * key's type per key, a safe-integer `seq`); anything else is refused with a 400 rather than
 * reaching SQL, where PostgreSQL would fail on the type and SQLite would answer a wrong page.
 */
export function afterPosition(keys: readonly OrderByKey[], position: KeysetPosition): Expression<SqlBool> {
  const fits =
    Array.isArray(position.values) &&
    position.values.length === keys.length &&
    Number.isSafeInteger(position.seq) &&
    keys.every((k, i) => sortKeyFor(k.property).accepts(position.values[i]));
  if (!fits) throw errors.invalidQuery('The $skiptoken is invalid or belongs to a different query; follow @odata.nextLink exactly.');
  const branches: RawBuilder<SqlBool>[] = [];
  const equalPrefix: RawBuilder<SqlBool>[] = [];
  keys.forEach((k, i) => {
    const { expr: ref, nullable } = sortKeyFor(k.property);
    const v = position.values[i] ?? null;
    const after: RawBuilder<SqlBool> | undefined =
      k.direction === 'asc'
        ? v === null
          ? nullable ? sql<SqlBool>`${ref} is not null` : undefined
          : sql<SqlBool>`${ref} > ${v}`
        : v === null
          ? undefined // nothing sorts after NULL in descending order except equal NULLs
          : nullable ? sql<SqlBool>`(${ref} < ${v} or ${ref} is null)` : sql<SqlBool>`${ref} < ${v}`;
    if (after) branches.push(and([...equalPrefix, after]));
    equalPrefix.push(v === null ? sql<SqlBool>`${ref} is null` : sql<SqlBool>`${ref} = ${v}`);
  });
  const seqAfter = tiebreakDirection(keys) === 'asc' ? sql<SqlBool>`actions.seq > ${position.seq}` : sql<SqlBool>`actions.seq < ${position.seq}`;
  branches.push(and([...equalPrefix, seqAfter]));
  return branches.length === 1 ? branches[0]! : sql<SqlBool>`(${sql.join(branches, sql` or `)})`;
}

function and(parts: RawBuilder<SqlBool>[]): RawBuilder<SqlBool> {
  return parts.length === 1 ? parts[0]! : sql<SqlBool>`(${sql.join(parts, sql` and `)})`;
}
