/**
 * The in-memory interpreter of the `$filter` AST and of `$orderby` order. It is the test oracle:
 * `storage/sql/filter-to-sql.ts` must return exactly the rows this accepts, on SQLite and on
 * PostgreSQL, in this order. The semantics below are therefore the contract for the SQL compiler.
 *
 * **Two-valued logic.** Every leaf is true or false, never unknown, so `not` is plain negation:
 * - `x eq null` is true iff x is null; `x ne null` iff x is not null.
 * - `x eq v` is false when x is null; `x ne v` is TRUE when x is null (it is `not (x eq v)`).
 * - `gt ge lt le` are false when x is null (the parser rejects a null literal with them).
 * - `x in (…)` is false when x is null (the parser rejects null inside the list).
 * - `startswith/endswith/contains(x, s)` are false when x is null, case-sensitive, and true for
 *   `s = ''` when x is not null.
 * In SQL this means `ne` compiles to `(x IS NULL OR x <> ?)` and every other leaf must be made
 * NULL-free (e.g. `x IS NOT NULL AND …`) before `NOT` is applied. SQLite's `LIKE` is
 * case-insensitive and treats `%`/`_` specially, so functions need `instr`/`substr` or escaping.
 *
 * **Strings** compare by Unicode code point, case-sensitively. That is UTF-8 byte order, which is
 * what SQLite's BINARY collation and PostgreSQL's `COLLATE "C"` do; JavaScript's `<` compares
 * UTF-16 code units instead and differs for characters above U+FFFF, hence {@link compareCodePoints}.
 * **DateTimeOffsets** are epoch milliseconds and compare numerically. **status** is stored and
 * compared by its PascalCase name.
 */
import type { ComparisonOperator, FilterNode, LiteralValue, StringFunction } from './ast.js';

/** One securityAction as the evaluator sees it. */
export interface FilterSubject {
  /** The value of a canonical filterable property: string, epoch ms for dates, or null. */
  get(property: string): string | number | null;
  parameters: ReadonlyArray<{ name: string; value: string | null }>;
}

/** Evaluates `node` against `subject` with the two-valued semantics described above. */
export function evaluateFilter(node: FilterNode, subject: FilterSubject): boolean {
  switch (node.type) {
    case 'compare':
      return compare(node.op, subject.get(node.property), node.value);
    case 'in': {
      const actual = subject.get(node.property);
      return actual !== null && node.values.some((v) => v !== null && compareValues(actual, v) === 0);
    }
    case 'function': {
      const actual = subject.get(node.property);
      return typeof actual === 'string' && applyFunction(node.name, actual, node.value);
    }
    case 'and':
      return evaluateFilter(node.left, subject) && evaluateFilter(node.right, subject);
    case 'or':
      return evaluateFilter(node.left, subject) || evaluateFilter(node.right, subject);
    case 'not':
      return !evaluateFilter(node.operand, subject);
    case 'any':
      return subject.parameters.some((p) => evaluateFilter(node.predicate, parameterSubject(p)));
    case 'anyNonEmpty':
      return subject.parameters.length > 0;
    default:
      return node satisfies never;
  }
}

/**
 * `$orderby` order for one key: null is the smallest value (OData), so nulls come FIRST ascending
 * and LAST descending; strings by code point, dates numerically. SQL: `NULLS FIRST` / `NULLS LAST`
 * explicitly (PostgreSQL's default is the opposite) and `COLLATE "C"` on PostgreSQL.
 */
export function compareForOrder(a: string | number | null, b: string | number | null, direction: 'asc' | 'desc'): number {
  const ascending = a === null ? (b === null ? 0 : -1) : b === null ? 1 : compareValues(a, b);
  return direction === 'asc' ? ascending : -ascending || 0;
}

/** Compares two strings by Unicode code point (= UTF-8 byte order); negative, 0 or positive. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// At the first differing UTF-16 unit, a surrogate (part of a character above U+FFFF) must sort
// after U+E000–U+FFFF, and the two surrogate halves never meet a non-surrogate of the same rank.
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

function compare(op: ComparisonOperator, actual: string | number | null, expected: LiteralValue): boolean {
  if (expected === null || actual === null) {
    const bothNull = expected === null && actual === null;
    if (op === 'eq') return bothNull;
    if (op === 'ne') return !bothNull;
    return false;
  }
  const c = compareValues(actual, expected);
  switch (op) {
    case 'eq':
      return c === 0;
    case 'ne':
      return c !== 0;
    case 'gt':
      return c > 0;
    case 'ge':
      return c >= 0;
    case 'lt':
      return c < 0;
    case 'le':
      return c <= 0;
    default:
      return op satisfies never;
  }
}

function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  // The parser coerces literals to the property's type, so this is a bug in the caller's subject.
  throw new TypeError(`cannot compare ${typeof a} with ${typeof b}`);
}

function applyFunction(name: StringFunction, actual: string, needle: string): boolean {
  switch (name) {
    case 'startswith':
      return actual.startsWith(needle);
    case 'endswith':
      return actual.endsWith(needle);
    case 'contains':
      return actual.includes(needle);
    default:
      return name satisfies never;
  }
}

function parameterSubject(parameter: { name: string; value: string | null }): FilterSubject {
  return {
    get(property) {
      if (property === 'name') return parameter.name;
      if (property === 'value') return parameter.value;
      throw new TypeError(`'${property}' is not a parameter property`);
    },
    parameters: [],
  };
}
