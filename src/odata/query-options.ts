/**
 * System query options of `GET /security/securityActions` and `GET …/$count` (reference §1.6),
 * validated from the decoded query-string record Fastify hands over. Unsupported options fail
 * with a 400 naming them; nothing is silently ignored except parameters that are not OData options.
 */
import type { FilterNode, OrderByKey } from './ast.js';
import { errors, truncate } from '../domain/errors.js';
import { parseFilter } from './filter-parser.js';
import { parseOrderBy } from './orderby-parser.js';
import { canonicalSelectable, selectableProperties } from './property-map.js';

/** A decoded query string, one entry per name; repeated names arrive as arrays. */
export type RawQuery = Readonly<Record<string, string | string[] | undefined>>;

/** Validated list options. Defaults (page size 100) are the caller's business. */
export interface QueryOptions {
  filter?: FilterNode;
  /** The `$filter` text as received, for next links. */
  filterText?: string;
  /** Empty when no `$orderby` was given. */
  orderBy: OrderByKey[];
  orderByText?: string;
  /** 0..{@link queryLimits.maxTop}; undefined when absent. */
  top?: number;
  skip?: number;
  /** `$count=true` */
  count: boolean;
  /** Canonical, deduplicated; undefined when absent or `*`. */
  select?: string[];
  /** Opaque; decoded by whoever issued it. */
  skipToken?: string;
}

/** Validated options of `GET …/$count`. */
export interface CountOptions {
  filter?: FilterNode;
  filterText?: string;
}

export const queryLimits = { maxTop: 1000, maxSkip: 1_000_000, maxSkipTokenLength: 2048 } as const;

const optionNames = ['filter', 'orderby', 'top', 'skip', 'select', 'count', 'skiptoken', 'expand', 'search', 'format'] as const;
type OptionName = (typeof optionNames)[number];
const known = new Set<string>(optionNames);

/** Parses the options of a list request. */
export function parseQueryOptions(query: RawQuery): QueryOptions {
  const options = collectOptions(query);
  const result: QueryOptions = { orderBy: [], count: false };
  for (const [name, value] of options) {
    switch (name) {
      case 'filter':
        result.filter = parseFilter(value);
        result.filterText = value;
        break;
      case 'orderby':
        result.orderBy = parseOrderBy(value);
        result.orderByText = value;
        break;
      case 'top':
        result.top = parseInteger(value, queryLimits.maxTop, () =>
          `Invalid page size specified: '${truncate(value, 40)}'. Must be between 0 and ${queryLimits.maxTop} inclusive.`);
        break;
      case 'skip':
        result.skip = parseInteger(value, queryLimits.maxSkip, () =>
          `Invalid value for $skip: '${truncate(value, 40)}'. Must be an integer between 0 and ${queryLimits.maxSkip} inclusive.`);
        break;
      case 'count':
        result.count = parseBoolean(value);
        break;
      case 'select':
        result.select = parseSelect(value);
        break;
      case 'skiptoken':
        result.skipToken = checkSkipToken(value);
        break;
      case 'expand':
        throw errors.invalidQuery(
          `$expand: '${truncate(value, 80)}' is not a navigation property; securityAction has no navigation properties.`,
        );
      case 'search':
        throw errors.invalidQuery('$search is not supported on securityActions; use $filter.');
      case 'format':
        checkFormat(value);
        break;
      default:
        return name satisfies never;
    }
  }
  return result;
}

/** Parses the options of `GET …/$count`: only `$filter` is accepted. */
export function parseCountOptions(query: RawQuery): CountOptions {
  const result: CountOptions = {};
  for (const [name, value] of collectOptions(query)) {
    if (name === 'search') throw errors.invalidQuery('$search is not supported on securityActions; use $filter.');
    if (name !== 'filter') throw errors.invalidQuery(`Query option '$${name}' is not supported on $count; only $filter is.`);
    result.filter = parseFilter(value);
    result.filterText = value;
  }
  return result;
}

/**
 * Normalises names: case-insensitive, `$` optional (beta accepts `filter` for `$filter`). A name
 * given twice, in any spelling, is a 400; so is an unknown `$`-option.
 */
function collectOptions(query: RawQuery): Map<OptionName, string> {
  const options = new Map<OptionName, string>();
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const lower = key.toLowerCase();
    const bare = lower.startsWith('$') ? lower.slice(1) : lower;
    if (!known.has(bare)) {
      if (lower.startsWith('$')) {
        throw errors.invalidQuery(
          `Query option '${truncate(key, 60)}' is not supported. Supported options: $filter, $orderby, $top, $skip, $select, $count, $skiptoken, $format.`,
        );
      }
      continue;
    }
    const name = bare as OptionName;
    if (options.has(name) || Array.isArray(raw)) {
      throw errors.invalidQuery(`Query option '$${name}' is specified more than once.`);
    }
    options.set(name, raw);
  }
  return options;
}

function parseInteger(value: string, max: number, message: () => string): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > max) throw errors.invalidQuery(message());
  return n;
}

function parseBoolean(value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  throw errors.invalidQuery(`Invalid value for $count: '${truncate(value, 40)}'. Must be true or false.`);
}

function parseSelect(value: string): string[] | undefined {
  if (value.trim() === '*') return undefined;
  const selected: string[] = [];
  let pos = 1;
  for (const item of value.split(',')) {
    const term = item.trim();
    const at = pos + (item.length - item.trimStart().length);
    const canonical = canonicalSelectable(term);
    if (term === '') throw errors.invalidQuery(`$select: expected a property name at position ${at}.`);
    if (canonical === undefined) {
      throw errors.invalidQuery(
        `$select: unknown property '${truncate(term, 80)}' at position ${at}. Selectable properties: ${selectableProperties.join(', ')}.`,
      );
    }
    if (!selected.includes(canonical)) selected.push(canonical);
    pos += item.length + 1;
  }
  return selected;
}

function checkSkipToken(value: string): string {
  if (value === '' || value.length > queryLimits.maxSkipTokenLength) {
    throw errors.invalidQuery(
      `Invalid $skiptoken: it must be 1 to ${queryLimits.maxSkipTokenLength} characters as returned in @odata.nextLink.`,
    );
  }
  return value;
}

function checkFormat(value: string): void {
  const mediaType = (value.split(';')[0] ?? '').trim().toLowerCase();
  if (mediaType !== 'json' && mediaType !== 'application/json') {
    throw errors.invalidQuery(`$format '${truncate(value, 60)}' is not supported; use json.`);
  }
}
