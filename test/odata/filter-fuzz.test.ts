import { describe, it, expect } from 'vitest';
import { BulwarkError } from '../../src/domain/errors.js';
import { parseFilter } from '../../src/odata/filter-parser.js';
import { parseOrderBy } from '../../src/odata/orderby-parser.js';
import { generateFilter, seededRng, type Rng } from './filter-generator.js';

/** Parses `text`; a failure must be a 400 BulwarkError, never another exception. */
function outcome(parse: (text: string) => unknown, text: string): 'ok' | 'badRequest' {
  try {
    parse(text);
    return 'ok';
  } catch (e) {
    if (e instanceof BulwarkError && e.kind === 'badRequest') return 'badRequest';
    throw new Error(`non-400 failure for ${JSON.stringify(text.slice(0, 200))}: ${String(e)}`);
  }
}

const hostile: string[] = [
  "'; DROP TABLE actions; --",
  "name eq 'x'; DROP TABLE actions",
  "name eq 'x' OR 1=1",
  "name eq 'a' or '1'='1'",
  "name eq 'x'--",
  "name eq 'x' /* comment */",
  "name eq 'x' UNION SELECT * FROM apps",
  '1 eq 1',
  "'a' eq 'a'",
  'true',
  'null',
  'name',
  "name eq 'a' and 1",
  'name eq ?',
  'name eq $1',
  'name eq :p',
  "name eq 'a'\u0000",
  "name eq 'a\u0000b'",
  "name\u0001eq 'a'",
  "\u001b[31mname eq 'a'",
  "name eq '\uDFFF'",
  "name\u200beq 'a'",
  "name eq 'a' \u2028",
  '((((',
  '))))',
  "(name eq 'a'",
  "name eq 'a'))",
  "'",
  "''",
  "'''",
  "name eq '''",
  '()',
  'not ()',
  'parameters/any(',
  'parameters/any(p:',
  'parameters/any(p: p/name eq',
  "parameters/any(p: p/name eq 'a'",
  "parameters/all(p: p/name eq 'a')",
  "parameters/any(p: parameters/any(q: q/value eq 'a'))",
  "parameters/any(p: p/__proto__ eq 'a')",
  "parameters/any(constructor: constructor/name eq 'a')", // a valid variable name: must still work or fail cleanly
  "__proto__ eq 'a'",
  "toString eq 'a'",
  "hasOwnProperty eq 'x'",
  "valueOf/__proto__ eq 'x'",
  "tolower(name) eq 'a'",
  "substringof('a', name)",
  "name eq 'a' and and name eq 'b'",
  "name in ('a',",
  'name in (',
  "name in ('a' 'b')",
  'createdDateTime gt 2024-01-01T00:00:00.',
  `createdDateTime gt 2024-01-01T00:00:00.${'1'.repeat(4000)}Z`,
  'createdDateTime gt 9999-99-99T99:99:99Z',
  'createdDateTime gt -2024-01-01T00:00:00Z',
  `name eq ${'9'.repeat(4000)}`,
  'a'.repeat(5000),
  `name eq '${'x'.repeat(5000)}'`,
  'x '.repeat(2000),
  '('.repeat(4096),
  ')'.repeat(4096),
  `${'('.repeat(2000)}name eq 'a'${')'.repeat(2000)}`,
  `${'not '.repeat(1000)}(name eq 'a')`,
  `${'parameters/any(p:'.repeat(100)}p/name eq 'a'${')'.repeat(100)}`,
  Array.from({ length: 300 }, () => "id eq 'a'").join(' or ').slice(0, 4000),
  `name in (${Array.from({ length: 500 }, () => "'a'").join(',')})`,
  `name eq 'a' ${"and name eq 'a' ".repeat(250)}`.slice(0, 4096),
  "'".repeat(4096),
  '/'.repeat(4096),
  `${'vendorInformation/'.repeat(200)}provider eq 'a'`,
  `${'a.'.repeat(1000)}a'x'`,
  "microsoft.graph.operationStatus'Running' eq status and status eq microsoft.graph.operationStatus'",
];

describe('$filter against hostile input', () => {
  it.each(hostile.map((h) => [h.length > 60 ? `${JSON.stringify(h.slice(0, 60))}… (${h.length} chars)` : JSON.stringify(h), h]))(
    '%s fails with a 400 or parses cleanly, quickly',
    (_label, filter) => {
      const started = performance.now();
      const result = outcome(parseFilter, filter);
      expect(performance.now() - started).toBeLessThan(250);
      if (!filter.includes('constructor:')) expect(result).toBe('badRequest');
    },
  );

  it('survives 5,000 mutations of valid filters with nothing but 400s', () => {
    const rng = seededRng(99);
    const started = performance.now();
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      const mutated = mutate(rng, generateFilter(rng, i % 5));
      if (outcome(parseFilter, mutated) === 'badRequest') rejected++;
    }
    expect(rejected).toBeGreaterThan(2500); // most mutations break the filter
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('survives random token soup', () => {
    const rng = seededRng(5);
    const pieces = ['name', 'status', 'eq', 'and', 'or', 'not', '(', ')', ',', '/', "'x'", "'", 'null', 'true', 'in', 'any', 'parameters',
      'p', ':', 'startswith', '2024-01-01T00:00:00Z', '5', ' ', ' ', '\u0000', '\uD800', 'é', '[', ']', 'microsoft.graph.operationStatus', '-'];
    for (let i = 0; i < 3000; i++) {
      const length = 1 + Math.floor(rng() * 30);
      const soup = Array.from({ length }, () => pieces[Math.floor(rng() * pieces.length)]).join('');
      outcome(parseFilter, soup);
      outcome(parseOrderBy, soup);
    }
  });
});

function mutate(rng: Rng, text: string): string {
  const at = Math.floor(rng() * (text.length + 1));
  const junk = ["'", '(', ')', ' ', '/', ',', 'x', '\u0000', 'or', 'eq', '😀', ':', '-'][Math.floor(rng() * 13)] ?? '';
  switch (Math.floor(rng() * 5)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1); // delete a character
    case 1:
      return text.slice(0, at) + junk + text.slice(at); // insert junk
    case 2:
      return text.slice(0, at); // truncate
    case 3:
      return text.slice(0, at) + text.slice(at, at + 20) + text.slice(at); // duplicate a run
    default:
      return text.slice(0, at) + junk + text.slice(at + 1); // replace a character
  }
}
