/**
 * The OData subset Bulwark understands, as a typed AST. The parser produces it, `evaluate.ts`
 * interprets it in memory (the test oracle) and `storage/sql/filter-to-sql.ts` compiles it to
 * Kysely expressions with bound parameters. Property names in the AST are always canonical
 * (see `property-map.ts`) and literals are already coerced to the property's type.
 */
export type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type StringFunction = 'startswith' | 'endswith' | 'contains';

/** A literal after coercion: strings, epoch-millisecond timestamps, or null. */
export type LiteralValue = string | number | null;

export type FilterNode =
  | { type: 'compare'; op: ComparisonOperator; property: string; value: LiteralValue }
  | { type: 'in'; property: string; values: LiteralValue[] }
  | { type: 'function'; name: StringFunction; property: string; value: string }
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'not'; operand: FilterNode }
  /** `parameters/any(p: …)`; the predicate's properties are lambda properties (`name`, `value`). */
  | { type: 'any'; collection: 'parameters'; predicate: FilterNode }
  /** `parameters/any()` with no predicate: true when the collection is non-empty. */
  | { type: 'anyNonEmpty'; collection: 'parameters' };

export interface OrderByKey {
  property: string;
  direction: 'asc' | 'desc';
}
