import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { FilterNode, LiteralValue } from '../../odata/ast.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import { columnFor } from './action-columns.js';

type Eb = ExpressionBuilder<Database, 'actions'>;
type Ref = { sql: ReturnType<typeof sql.ref>; nullable: boolean };

/**
 * Compiles a validated `$filter` AST to a Kysely expression over `actions`. Values are always bound
 * parameters. The SQL follows the two-valued semantics of `odata/evaluate.ts` exactly (comparisons
 * with NULL are false except `eq null`/`ne null`), so SQL and the in-memory oracle agree.
 */
export function filterToSql(eb: Eb, node: FilterNode, caps: DialectCapabilities): Expression<SqlBool> {
  const column = (property: string): Ref => {
    const c = columnFor(property);
    return { sql: sql.ref(`actions.${c.column}`), nullable: c.nullable };
  };
  return compile(node, column, caps, eb);
}

function compile(node: FilterNode, column: (p: string) => Ref, caps: DialectCapabilities, eb: Eb): Expression<SqlBool> {
  switch (node.type) {
    case 'compare':
      return compare(column(node.property), node.op, node.value);
    case 'in': {
      const ref = column(node.property);
      const values = node.values.filter((v): v is string | number => v !== null);
      if (values.length === 0) return sql<SqlBool>`1 = 0`;
      return notNullAnd(ref, sql<boolean>`${ref.sql} in (${sql.join(values.map((v) => sql`${v}`))})`);
    }
    case 'function': {
      const ref = column(node.property);
      const v = node.value;
      const body =
        node.name === 'contains'
          ? caps.containsSql(sql`${ref.sql}`, v)
          : node.name === 'startswith'
            ? sql<boolean>`substr(${ref.sql}, 1, length(${v})) = ${v}`
            : sql<boolean>`substr(${ref.sql}, length(${ref.sql}) - length(${v}) + 1) = ${v}`;
      return notNullAnd(ref, body);
    }
    case 'and':
      return sql<SqlBool>`(${compile(node.left, column, caps, eb)} and ${compile(node.right, column, caps, eb)})`;
    case 'or':
      return sql<SqlBool>`(${compile(node.left, column, caps, eb)} or ${compile(node.right, column, caps, eb)})`;
    case 'not':
      return sql<SqlBool>`(not ${compile(node.operand, column, caps, eb)})`;
    case 'any': {
      const param = (p: string): Ref => ({ sql: sql.ref(`p.${p === 'name' ? 'name' : 'value'}`), nullable: p !== 'name' });
      const predicate = compile(node.predicate, param, caps, eb);
      return sql<SqlBool>`exists (select 1 from action_parameters p where p.action_seq = actions.seq and ${predicate})`;
    }
    case 'anyNonEmpty':
      return sql<SqlBool>`exists (select 1 from action_parameters p where p.action_seq = actions.seq)`;
    default:
      return node satisfies never;
  }
}

function compare(ref: Ref, op: string, value: LiteralValue): Expression<SqlBool> {
  if (value === null) {
    if (op === 'eq') return sql<SqlBool>`(${ref.sql} is null)`;
    if (op === 'ne') return sql<SqlBool>`(${ref.sql} is not null)`;
    return sql<SqlBool>`1 = 0`; // the parser rejects these; keep SQL total anyway
  }
  if (op === 'ne') {
    return ref.nullable ? sql<SqlBool>`(${ref.sql} is null or ${ref.sql} <> ${value})` : sql<SqlBool>`(${ref.sql} <> ${value})`;
  }
  const operator = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' }[op];
  if (!operator) throw new Error(`unknown operator ${op}`);
  return notNullAnd(ref, sql<boolean>`${ref.sql} ${sql.raw(operator)} ${value}`);
}

/** `x op v` is NULL in SQL when x is NULL; OData wants false, which also survives `not`. */
function notNullAnd(ref: Ref, body: Expression<boolean>): Expression<SqlBool> {
  return ref.nullable ? sql<SqlBool>`(${ref.sql} is not null and ${body})` : sql<SqlBool>`(${body})`;
}
