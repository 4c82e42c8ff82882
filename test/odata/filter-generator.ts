/**
 * Random VALID `$filter` strings over the whole grammar, for property-based tests: every
 * filterable property, every operator, `in`, string functions (bare and folded with `eq true/false`),
 * `null`, DateTimeOffsets in every accepted spelling, status enum forms, literal-on-the-left,
 * `parameters/any(…)` with assorted variable names and `parameters/any()`, `not`/`and`/`or` nesting,
 * random keyword casing and whitespace. Values come from {@link filterVocabulary}, so a test that
 * stores rows built from the same vocabulary gets real matches (the SQL-vs-memory oracle).
 */
import { securityActionProperties } from '../../src/odata/property-map.js';

/** A source of uniform numbers in [0, 1). Use {@link seededRng} for reproducible runs. */
export type Rng = () => number;

/** mulberry32: tiny, fast, good enough for test-case generation. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The values generated filters draw from. Strings include characters that catch classic
 * translation bugs: quotes, LIKE wildcards, a backslash, case variants, and U+E000 vs U+1F600
 * (UTF-16 order and code-point order disagree on those two).
 */
export const filterVocabulary = {
  strings: [
    'BlockIp', 'blockIp', 'BlockDomain', 'IP', 'ip', 'Domain', '203.0.113.7', '198.51.100.0/24', 'example.com',
    'Windows Defender ATP', 'Microsoft', 'Bulwark', "O'Brien", '', 'a', 'é', '\uE000', '😀', 'Z', '0', '%', '_', '\\',
  ],
  needles: ['Block', 'block', 'ip', 'Ip', '.7', '', '%', '_', "'", '😀', 'e', '203.', 'com', 'soft'],
  parameterNames: ['IP', 'ip', 'Domain', 'Url', 'comment'],
  /** epoch ms around 2024-01-01T00:00:00Z */
  dates: [1704067200000, 1704067200500, 1704070800000, 1704153600000, 1703980800000, 1704067199999],
  statuses: ['NotStarted', 'Running', 'Completed', 'Failed'],
} as const;

const entries = Object.entries(securityActionProperties).filter(([, info]) => info.filterable);
const byKind = (kind: string) => entries.filter(([, info]) => info.kind === kind).map(([path]) => path);
const stringProperties = byKind('string');
const dateProperties = byKind('dateTimeOffset');
const statusProperties = byKind('status');
const operators = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const;
const flip = { eq: 'eq', ne: 'ne', gt: 'lt', ge: 'le', lt: 'gt', le: 'ge' } as const;
const variables = ['p', 'x', 'kv', 'param', 'P1', 'name'];

/**
 * One random valid filter. `depth` bounds the and/or/not nesting; it is clamped to 4, which keeps
 * every result within the parser's limits (200 nodes, depth 32, 4096 characters).
 */
export function generateFilter(rng: Rng, depth: number): string {
  return new Generator(rng).expression(Math.max(0, Math.min(4, Math.floor(depth))), undefined);
}

class Generator {
  constructor(private readonly rng: Rng) {}

  expression(depth: number, variable: string | undefined): string {
    if (depth === 0 || this.chance(0.3)) return this.leaf(variable);
    const roll = this.rng();
    if (roll < 0.35) return this.binary('and', depth, variable);
    if (roll < 0.7) return this.binary('or', depth, variable);
    if (roll < 0.85) return `${this.kw('not')}${this.ws()}(${this.pad()}${this.expression(depth - 1, variable)}${this.pad()})`;
    return `(${this.pad()}${this.expression(depth - 1, variable)}${this.pad()})`;
  }

  private binary(op: 'and' | 'or', depth: number, variable: string | undefined): string {
    const side = () => {
      const e = this.expression(depth - 1, variable);
      return this.chance(0.5) ? `(${e})` : e;
    };
    return `${side()}${this.ws()}${this.kw(op)}${this.ws()}${side()}`;
  }

  private leaf(variable: string | undefined): string {
    if (variable !== undefined) return this.parameterLeaf(variable);
    const roll = this.rng();
    if (roll < 0.25) return this.stringComparison(this.pick(stringProperties));
    if (roll < 0.45) return this.dateComparison(this.pick(dateProperties));
    if (roll < 0.55) return this.statusCondition(this.pick(statusProperties));
    if (roll < 0.65) return this.inList(this.pick(stringProperties), () => this.stringLiteral());
    if (roll < 0.7) return this.inList(this.pick(dateProperties), () => this.dateLiteral());
    if (roll < 0.82) return this.functionCall(this.property(this.pick(stringProperties)));
    return this.lambda();
  }

  private parameterLeaf(v: string): string {
    const member = this.pick(['name', 'value', 'Name', 'VALUE']);
    const path = `${this.chance(0.8) ? v : v.toUpperCase()}/${member}`;
    const roll = this.rng();
    if (roll < 0.3) return this.compare(path, this.pick(operators), this.chance(0.5) ? this.quote(this.pick(filterVocabulary.parameterNames)) : this.stringLiteral());
    if (roll < 0.45) return this.compare(path, this.pick(['eq', 'ne'] as const), this.kw('null'));
    if (roll < 0.6) return this.inList(path, () => this.stringLiteral(), true);
    return this.functionCall(path);
  }

  private stringComparison(property: string): string {
    if (this.chance(0.15)) return this.compare(this.property(property), this.pick(['eq', 'ne'] as const), this.kw('null'));
    return this.compare(this.property(property), this.pick(operators), this.stringLiteral());
  }

  private dateComparison(property: string): string {
    if (this.chance(0.15)) return this.compare(this.property(property), this.pick(['eq', 'ne'] as const), this.kw('null'));
    return this.compare(this.property(property), this.pick(operators), this.dateLiteral());
  }

  private statusCondition(property: string): string {
    if (this.chance(0.3)) return this.inList(this.property(property), () => this.statusLiteral());
    return this.compare(this.property(property), this.pick(['eq', 'ne'] as const), this.statusLiteral());
  }

  /** `prop op literal`, or mirrored as `literal op' prop`. */
  private compare(path: string, op: (typeof operators)[number], literal: string): string {
    if (this.chance(0.15)) return `${literal}${this.ws()}${this.kw(flip[op])}${this.ws()}${path}`;
    return `${path}${this.ws()}${this.kw(op)}${this.ws()}${literal}`;
  }

  private inList(path: string, literal: () => string, alreadyPath = false): string {
    const count = 1 + Math.floor(this.rng() * 5);
    const items = Array.from({ length: count }, literal).join(`,${this.pad()}`);
    return `${alreadyPath ? path : this.property(path)}${this.ws()}${this.kw('in')}${this.ws()}(${this.pad()}${items}${this.pad()})`;
  }

  private functionCall(path: string): string {
    const name = this.pick(['startswith', 'endswith', 'contains'] as const);
    const call = `${this.kw(name)}(${path},${this.pad()}${this.quote(this.pick(filterVocabulary.needles))})`;
    const roll = this.rng();
    if (roll < 0.15) return `${call} ${this.kw('eq')} ${this.kw('true')}`;
    if (roll < 0.3) return `${call} ${this.kw(this.pick(['eq', 'ne'] as const))} ${this.kw('false')}`;
    if (roll < 0.45) return `${this.kw('not')} ${call}`;
    return call;
  }

  private lambda(): string {
    const prefix = `${this.chance(0.8) ? 'parameters' : 'Parameters'}/${this.kw('any')}`;
    if (this.chance(0.15)) return `${prefix}(${this.pad()})`;
    const v = this.pick(variables);
    const body = this.expression(this.chance(0.5) ? 1 : 0, v);
    const lambda = `${prefix}(${v}:${this.pad()}${body})`;
    return this.chance(0.15) ? `${this.kw('not')} ${lambda}` : lambda;
  }

  private stringLiteral(): string {
    return this.quote(this.pick(filterVocabulary.strings));
  }

  private statusLiteral(): string {
    const status = this.pick(filterVocabulary.statuses);
    const spelled = this.pick([status, status.toLowerCase(), status.toUpperCase()]);
    return this.chance(0.3) ? `microsoft.graph.operationStatus'${spelled}'` : this.quote(spelled);
  }

  /** Unquoted in Z, fractional and ±hh:mm spellings, or quoted ISO 8601. */
  private dateLiteral(): string {
    const epoch = this.pick(filterVocabulary.dates);
    const offsetMinutes = this.pick([0, 0, 60, -330, 840]);
    const local = new Date(epoch + offsetMinutes * 60_000).toISOString().slice(0, 23);
    const withFraction = this.chance(0.5) ? local : local.endsWith('.000') ? local.slice(0, 19) : local;
    const zone = offsetMinutes === 0 ? this.pick(['Z', '+00:00']) : formatOffset(offsetMinutes);
    const text = `${withFraction}${zone}`;
    return this.chance(0.2) ? `'${text}'` : text;
  }

  /** Canonical path, or the same path in another case (lookups are case-insensitive). */
  private property(path: string): string {
    const roll = this.rng();
    if (roll < 0.8) return path;
    return roll < 0.9 ? path.toLowerCase() : path.toUpperCase();
  }

  private kw(word: string): string {
    const roll = this.rng();
    if (roll < 0.8) return word;
    if (roll < 0.9) return word.toUpperCase();
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  private quote(value: string): string {
    return `'${value.replaceAll("'", "''")}'`;
  }

  private ws(): string {
    return this.chance(0.9) ? ' ' : this.pick(['  ', '\t', ' \n ']);
  }

  private pad(): string {
    return this.chance(0.8) ? '' : ' ';
  }

  private chance(p: number): boolean {
    return this.rng() < p;
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.rng() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
