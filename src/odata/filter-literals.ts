/**
 * Type-checks a `$filter` literal against the property it is compared with and coerces it to the
 * AST's {@link LiteralValue}: strings stay strings, DateTimeOffsets become epoch milliseconds,
 * status values become their PascalCase `operationStatus` name (reference §2.5, §5.6).
 */
import type { ComparisonOperator, LiteralValue } from './ast.js';
import type { PropertyInfo } from './property-map.js';
import type { Token } from './lexer.js';
import { errors, truncate } from '../domain/errors.js';
import { operationStatuses, parseOperationStatus } from '../domain/operation-status.js';
import { parseDateTimeOffset } from './datetime-literal.js';
import { describeToken, quoteForMessage } from './lexer.js';

/** A property reference after whitelist lookup. */
export interface PropertyRef {
  /** Canonical path as it goes into the AST (`name`, `vendorInformation/provider`). */
  path: string;
  /** The path as the user wrote it, for messages (`p/value` inside a lambda). */
  display: string;
  info: PropertyInfo;
  pos: number;
}

const statusTypeName = 'microsoft.graph.operationstatus';
const acceptedStatuses = operationStatuses.join(', ');
const dateExample = 'write a DateTimeOffset such as 2024-01-01T00:00:00Z';

/** True for tokens that can only be a literal: strings, dates, numbers, `null`, `true`, `false`, … */
export function isLiteralToken(token: Token): boolean {
  if (token.kind === 'identifier') return ['null', 'true', 'false'].includes(token.text.toLowerCase());
  return token.kind !== 'punctuation' && token.kind !== 'end';
}

/**
 * Rejects ordering operators on enumerations: Graph orders enums by member value, not by name, and
 * Bulwark stores names, so `status gt 'Running'` could only be answered wrongly.
 */
export function checkOperator(prop: PropertyRef, op: ComparisonOperator, opPos: number): void {
  if (prop.info.kind === 'status' && op !== 'eq' && op !== 'ne') {
    throw fail(`'${op}' at position ${opPos} is not supported on '${prop.display}', an enumeration; use eq, ne or in.`);
  }
}

/**
 * Coerces `token` for `prop` under operator `op` (`'in'` for list items) or throws a 400 naming
 * the literal, its position and what would have been accepted.
 */
export function coerceLiteral(token: Token, prop: PropertyRef, op: ComparisonOperator | 'in'): LiteralValue {
  const at = `at position ${token.pos}`;
  const kind = prop.info.kind;
  if (token.kind === 'identifier' && token.text.toLowerCase() === 'null') {
    if (op === 'in') throw fail(`null ${at} is not allowed in an 'in' list; use '${prop.display} eq null'.`);
    if (op !== 'eq' && op !== 'ne') throw fail(`'${op}' cannot compare with null (null ${at}); use eq null or ne null.`);
    return null;
  }
  switch (kind) {
    case 'string':
      if (token.kind === 'string') return token.value;
      throw fail(`${describeToken(token)} ${at} is not valid for '${prop.display}', a string property; ${stringHint(token)}.`);
    case 'dateTimeOffset':
      if (token.kind === 'dateTime') return token.value;
      if (token.kind === 'string') {
        const epochMs = parseDateTimeOffset(token.value);
        if (epochMs !== undefined) return epochMs;
        throw fail(`${quoteForMessage(token.text)} ${at} is not a valid DateTimeOffset for '${prop.display}'; ${dateExample}.`);
      }
      throw fail(`${describeToken(token)} ${at} is not valid for '${prop.display}'; ${dateExample}.`);
    case 'status':
      return coerceStatus(token, prop, at);
    default:
      return kind satisfies never;
  }
}

function coerceStatus(token: Token, prop: PropertyRef, at: string): string {
  if (token.kind === 'enum' && token.typeName.toLowerCase() !== statusTypeName) {
    throw fail(
      `unknown enumeration type '${truncate(token.typeName, 60)}' ${at}; write microsoft.graph.operationStatus'Completed' or 'Completed'.`,
    );
  }
  if (token.kind === 'enum' || token.kind === 'string') {
    const status = parseOperationStatus(token.value);
    if (status) return status;
    throw fail(`'${truncate(token.value, 60)}' ${at} is not a valid value for '${prop.display}'. Accepted values: ${acceptedStatuses}.`);
  }
  throw fail(`${describeToken(token)} ${at} is not valid for '${prop.display}'. Accepted values: ${acceptedStatuses}.`);
}

function stringHint(token: Token): string {
  if (token.kind === 'number' || token.kind === 'guid' || token.kind === 'dateTime') {
    return `quote it: '${truncate(token.text, 60)}'`;
  }
  if (token.kind === 'identifier') return 'booleans may only follow a function or lambda, e.g. startswith(name,\'x\') eq true';
  return 'use a string literal in single quotes';
}

function fail(message: string) {
  return errors.invalidQuery(`$filter: ${message}`);
}
