/**
 * `$orderby` (reference §1.6, §5.6): a comma list of sortable property paths, each optionally
 * followed by `asc` or `desc` (case-insensitive, default `asc`).
 */
import type { OrderByKey } from './ast.js';
import type { Token } from './lexer.js';
import { errors, truncate } from '../domain/errors.js';
import { describeToken, isAdjacent, isPunctuation, syntaxError, tokenize } from './lexer.js';
import { canonicalProperty, securityActionProperties } from './property-map.js';

/** Bounds on an `$orderby`; exceeding one is a 400. */
export const orderByLimits = {
  /** sort keys */
  maxKeys: 8,
  /** characters in the decoded `$orderby` value */
  maxLength: 1024,
} as const;

const sortable = Object.entries(securityActionProperties)
  .filter(([, info]) => info.sortable)
  .map(([path]) => path)
  .join(', ');

/**
 * Parses a decoded `$orderby` value into keys with canonical property names. Throws
 * `errors.invalidQuery` (400) naming the offending term and its 1-based position; a property may
 * appear only once.
 */
export function parseOrderBy(text: string): OrderByKey[] {
  if (text.length > orderByLimits.maxLength) {
    throw errors.invalidQuery(`$orderby is too long (${text.length} characters); the limit is ${orderByLimits.maxLength}.`);
  }
  const tokens = tokenize(text, '$orderby');
  let index = 0;
  const next = (): Token => tokens[Math.min(index++, tokens.length - 1)] ?? { kind: 'end', text: '', pos: text.length + 1 };
  const peek = (): Token => tokens[Math.min(index, tokens.length - 1)] ?? { kind: 'end', text: '', pos: text.length + 1 };
  const keys: OrderByKey[] = [];
  for (;;) {
    const first = next();
    if (first.kind !== 'identifier') {
      const where = keys.length > 0 ? " after ','" : '';
      throw syntaxError('$orderby', first.pos, `expected a property name${where}, found ${describeToken(first)}.`);
    }
    let path = first.text;
    let last = first;
    while (isPunctuation(peek(), '/') && isAdjacent(last, peek())) {
      const slash = next();
      const segment = next();
      if (segment.kind !== 'identifier' || !isAdjacent(slash, segment)) {
        throw syntaxError('$orderby', segment.pos, `expected a property name right after '/', found ${describeToken(segment)}.`);
      }
      path += `/${segment.text}`;
      last = segment;
    }
    const property = resolveSortable(path, first.pos);
    let direction: OrderByKey['direction'] = 'asc';
    if (peek().kind === 'identifier') {
      const word = next();
      const lower = word.text.toLowerCase();
      if (lower !== 'asc' && lower !== 'desc') {
        throw errors.invalidQuery(`$orderby: unsupported direction '${truncate(word.text, 60)}' at position ${word.pos}; use asc or desc.`);
      }
      direction = lower;
    }
    if (keys.some((k) => k.property === property)) {
      throw errors.invalidQuery(`$orderby: property '${property}' at position ${first.pos} is listed more than once.`);
    }
    keys.push({ property, direction });
    if (keys.length > orderByLimits.maxKeys) {
      throw errors.invalidQuery(
        `$orderby has more than ${orderByLimits.maxKeys} keys (key ${keys.length} starts at position ${first.pos}).`,
      );
    }
    const separator = next();
    if (separator.kind === 'end') return keys;
    if (!isPunctuation(separator, ',')) {
      throw syntaxError(
        '$orderby', separator.pos,
        `expected ',' or end of input after '${truncate(path, 60)}', found ${describeToken(separator)}.`,
      );
    }
  }
}

function resolveSortable(path: string, pos: number): string {
  const canonical = canonicalProperty(path);
  const info = canonical === undefined ? undefined : securityActionProperties[canonical];
  if (canonical !== undefined && info?.sortable) return canonical;
  const hint = path.toLowerCase() === 'parameters' ? " 'parameters' is a collection and cannot be sorted." : '';
  throw errors.invalidQuery(
    `$orderby: unknown property '${truncate(path, 80)}' at position ${pos}.${hint} Sortable properties: ${sortable}.`,
  );
}
