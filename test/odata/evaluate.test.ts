import { describe, it, expect } from 'vitest';
import type { FilterSubject } from '../../src/odata/evaluate.js';
import { compareCodePoints, compareForOrder, evaluateFilter } from '../../src/odata/evaluate.js';
import { parseFilter } from '../../src/odata/filter-parser.js';

type Row = Record<string, string | number | null>;

function subject(row: Row, parameters: FilterSubject['parameters'] = []): FilterSubject {
  return { get: (property) => row[property] ?? null, parameters };
}

const matches = (filter: string, row: Row, parameters?: FilterSubject['parameters']) =>
  evaluateFilter(parseFilter(filter), subject(row, parameters));

const jan1 = Date.UTC(2024, 0, 1);

describe('evaluateFilter: null semantics (two-valued)', () => {
  const nullUser = { name: 'BlockIp', user: null };
  const someUser = { name: 'BlockIp', user: 'alice' };

  it('eq null / ne null test for null', () => {
    expect(matches('user eq null', nullUser)).toBe(true);
    expect(matches('user eq null', someUser)).toBe(false);
    expect(matches('user ne null', nullUser)).toBe(false);
    expect(matches('user ne null', someUser)).toBe(true);
  });

  it('eq is false and ne is TRUE when the property is null', () => {
    expect(matches("user eq 'alice'", nullUser)).toBe(false);
    expect(matches("user ne 'alice'", nullUser)).toBe(true);
    expect(matches("user ne 'alice'", someUser)).toBe(false);
    expect(matches("user ne 'bob'", someUser)).toBe(true);
  });

  it.each(['gt', 'ge', 'lt', 'le'])('%s is false when the property is null', (op) => {
    expect(matches(`user ${op} 'a'`, nullUser)).toBe(false);
    expect(matches(`completedDateTime ${op} 2024-01-01T00:00:00Z`, { completedDateTime: null })).toBe(false);
  });

  it('in is false for null', () => {
    expect(matches("user in ('alice','bob')", nullUser)).toBe(false);
    expect(matches("user in ('alice','bob')", someUser)).toBe(true);
    expect(matches("user in ('bob')", someUser)).toBe(false);
  });

  it.each(['startswith', 'endswith', 'contains'])('%s is false for null, even with an empty needle', (fn) => {
    expect(matches(`${fn}(user,'')`, nullUser)).toBe(false);
    expect(matches(`${fn}(user,'')`, someUser)).toBe(true);
  });

  it('not is plain negation over two-valued leaves', () => {
    expect(matches("not (user eq 'alice')", nullUser)).toBe(true);
    expect(matches("not (user gt 'a')", nullUser)).toBe(true);
    expect(matches("not startswith(user,'a')", nullUser)).toBe(true);
    expect(matches("startswith(user,'a') eq false", nullUser)).toBe(true);
    expect(matches("not (user in ('alice'))", nullUser)).toBe(true);
  });
});

describe('evaluateFilter: strings', () => {
  it('compares case-sensitively', () => {
    expect(matches("name eq 'blockip'", { name: 'BlockIp' })).toBe(false);
    expect(matches("startswith(name,'block')", { name: 'BlockIp' })).toBe(false);
    expect(matches("contains(name,'kI')", { name: 'BlockIp' })).toBe(true);
    expect(matches("endswith(name,'Ip')", { name: 'BlockIp' })).toBe(true);
    expect(matches("'B' lt name", { name: 'a' })).toBe(true); // 'B' (0x42) < 'a' (0x61)
  });

  it('treats LIKE wildcards and backslashes literally', () => {
    expect(matches("contains(name,'%')", { name: 'abc' })).toBe(false);
    expect(matches("contains(name,'_')", { name: 'a_c' })).toBe(true);
    expect(matches("startswith(name,'\\')", { name: '\\x' })).toBe(true);
  });

  it('orders by code point, not UTF-16 unit', () => {
    // U+E000 is a single unit 0xE000; U+1F600 is the pair 0xD83D 0xDE00. UTF-16 order puts the
    // emoji first; code point (and UTF-8 byte) order puts it last.
    expect('😀' < '\uE000').toBe(true);
    expect(compareCodePoints('😀', '\uE000')).toBeGreaterThan(0);
    expect(matches("name gt '\uE000'", { name: '😀' })).toBe(true);
    expect(matches("name lt '\uE000'", { name: '😀' })).toBe(false);
    expect(compareCodePoints('a', 'a😀')).toBeLessThan(0);
    expect(compareCodePoints('é', 'z')).toBeGreaterThan(0);
    expect(compareCodePoints('😀', '😁')).toBeLessThan(0);
    expect(compareCodePoints('', '')).toBe(0);
  });

  it('agrees with UTF-8 byte order on a mixed sample', () => {
    const sample = ['', 'a', 'A', 'é', '\uE000', '\uFFFF', '😀', '𐀀', 'ab', 'a😀', '\u00a0', '~', '0'];
    const bytes = (s: string) => Buffer.from(s, 'utf8');
    for (const x of sample) {
      for (const y of sample) {
        expect(Math.sign(compareCodePoints(x, y))).toBe(Math.sign(Buffer.compare(bytes(x), bytes(y))));
      }
    }
  });
});

describe('evaluateFilter: operators', () => {
  const row = { name: 'm', createdDateTime: jan1, status: 'Running' };

  it.each([
    ["name eq 'm'", true], ["name ne 'm'", false], ["name gt 'l'", true], ["name gt 'm'", false],
    ["name ge 'm'", true], ["name lt 'n'", true], ["name lt 'm'", false], ["name le 'm'", true],
    ['createdDateTime eq 2024-01-01T01:00:00+01:00', true],
    ['createdDateTime gt 2023-12-31T23:59:59.999Z', true],
    ['createdDateTime lt 2024-01-01T00:00:00.001Z', true],
    ['createdDateTime ge 2024-01-01T00:00:00.001Z', false],
    ["status eq 'running'", true], ["status ne microsoft.graph.operationStatus'Running'", false],
    ["status in ('Completed','Failed')", false],
    ["name eq 'x' or name eq 'm'", true], ["name eq 'm' and name eq 'x'", false],
    ["'m' eq name", true], ["'n' gt name", true],
  ] as const)('%s → %s', (filter, expected) => {
    expect(matches(filter, row)).toBe(expected);
  });
});

describe('evaluateFilter: parameters lambda', () => {
  const parameters = [{ name: 'IP', value: '203.0.113.7' }, { name: 'comment', value: null }];

  it('is true when one parameter satisfies the whole predicate', () => {
    expect(matches("parameters/any(p: p/name eq 'IP' and p/value eq '203.0.113.7')", {}, parameters)).toBe(true);
    expect(matches("parameters/any(p: p/name eq 'comment' and p/value eq '203.0.113.7')", {}, parameters)).toBe(false);
    expect(matches('parameters/any(p: p/value eq null)', {}, parameters)).toBe(true);
    expect(matches("parameters/any(p: p/value ne '203.0.113.7')", {}, parameters)).toBe(true); // null ≠ value
    expect(matches("parameters/any(p: startswith(p/value,'203.'))", {}, parameters)).toBe(true);
  });

  it('is false on an empty collection; any() tests non-emptiness', () => {
    expect(matches("parameters/any(p: p/name ne 'x')", {}, [])).toBe(false);
    expect(matches('parameters/any()', {}, [])).toBe(false);
    expect(matches('parameters/any()', {}, parameters)).toBe(true);
    expect(matches('not parameters/any()', {}, [])).toBe(true);
  });
});

describe('compareForOrder', () => {
  it('puts nulls first ascending and last descending', () => {
    const values = ['b', null, 'a', null, 'c'];
    expect([...values].sort((x, y) => compareForOrder(x, y, 'asc'))).toEqual([null, null, 'a', 'b', 'c']);
    expect([...values].sort((x, y) => compareForOrder(x, y, 'desc'))).toEqual(['c', 'b', 'a', null, null]);
  });

  it('orders numbers numerically and strings by code point', () => {
    expect([10, 9, 100].sort((x, y) => compareForOrder(x, y, 'asc'))).toEqual([9, 10, 100]);
    expect(['😀', '\uE000', 'Z', 'a'].sort((x, y) => compareForOrder(x, y, 'asc'))).toEqual(['Z', 'a', '\uE000', '😀']);
  });

  it('returns exactly 0 for equal values in both directions', () => {
    expect(compareForOrder('a', 'a', 'desc')).toBe(0);
    expect(compareForOrder(null, null, 'desc')).toBe(0);
    expect(compareForOrder(5, 5, 'asc')).toBe(0);
  });
});
