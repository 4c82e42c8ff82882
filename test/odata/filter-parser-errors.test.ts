import { describe, it, expect } from 'vitest';
import { filterLimits, parseFilter } from '../../src/odata/filter-parser.js';
import { queryErrorOf } from './expect-query-error.js';

const messageOf = (filter: string) => queryErrorOf(() => parseFilter(filter));

describe('parseFilter: syntax errors name the term and its 1-based position', () => {
  it.each([
    ['name eq', "Syntax error in $filter at position 8: expected a literal after 'eq', found end of input."],
    ['', 'Syntax error in $filter at position 1: expected a condition, found end of input.'],
    ['   ', 'Syntax error in $filter at position 4: expected a condition, found end of input.'],
    ['name', "Syntax error in $filter at position 5: expected a comparison operator (eq, ne, gt, ge, lt, le, in) after 'name', found end of input."],
    ["name = 'a'", "Syntax error in $filter at position 6: unexpected character '=' (U+003D); use eq, ne, gt, ge, lt or le."],
    ['name eq "a"', "Syntax error in $filter at position 9: unexpected character '\"' (U+0022); string literals use single quotes."],
    ["name eq 'abc", 'Syntax error in $filter at position 9: unterminated string literal'],
    ["name eq 'a' and", "Syntax error in $filter at position 16: expected a condition after 'and', found end of input."],
    ["name eq 'a' or or name eq 'b'", "Syntax error in $filter at position 16: expected a condition after 'or', found 'or'."],
    ["and name eq 'a'", "Syntax error in $filter at position 1: expected a condition, found 'and'."],
    ["name eq 'a' name eq 'b'", "Syntax error in $filter at position 13: expected 'and', 'or' or end of input, found 'name'."],
    ["((name eq 'a')", "Syntax error in $filter at position 15: expected ')' to close the '(' at position 1, found end of input."],
    ["name eq 'a')", "Syntax error in $filter at position 12: unbalanced ')' without a matching '('."],
    ["name eq 'a' & id eq 'b'", "Syntax error in $filter at position 13: unexpected character '&' (U+0026); use and, or."],
    ["name eq id", "Syntax error in $filter at position 9: expected a literal after 'eq', found 'id'."],
    ["'a' eq 'b'", "Syntax error in $filter at position 8: expected a property after 'eq', found the string 'b'."],
    ["'a' in name", "Syntax error in $filter at position 5: 'in' needs a property on its left."],
    ["name in 'a'", "Syntax error in $filter at position 9: expected '(' after 'in', found the string 'a'."],
    ['name in ()', "Syntax error in $filter at position 10: an 'in' list needs at least one value."],
    ["name in ('a' 'b')", "Syntax error in $filter at position 14: expected ',' or ')' in the 'in' list, found the string 'b'."],
    ["name in ('a',)", "Syntax error in $filter at position 14: expected a literal in the 'in' list, found ')'."],
    ["not name eq 'a'", "Syntax error in $filter at position 5: 'not' applies to a parenthesised condition, a function call or a lambda; write not (name eq …)."],
    ['not', "Syntax error in $filter at position 4: expected a condition after 'not', found end of input."],
    ["contains(name,'x') eq 'yes'", "Syntax error in $filter at position 23: expected true or false after 'eq' (a condition can only be compared with a boolean), found the string 'yes'."],
    ["contains(name,'x') gt true", "Syntax error in $filter at position 20: 'gt' cannot be applied to a condition; only 'eq true' and 'eq false' can."],
    ["contains('x',name)", "Syntax error in $filter at position 10: expected a property as the first argument of contains, found the string 'x'."],
    ['contains(name)', "Syntax error in $filter at position 14: expected ',' after the first argument of contains, found ')'."],
    ["contains(name,'x','y')", "Syntax error in $filter at position 18: expected ')' to close contains(, found ','."],
    ["vendorInformation/ eq 'x'", "Syntax error in $filter at position 20: expected a property name right after '/', found 'eq'."],
    ["vendorInformation/'x' eq 'x'", "Syntax error in $filter at position 19: expected a property name right after '/', found the string 'x'."],
    ["parameters/any(p p/name eq 'a')", "Syntax error in $filter at position 18: expected ':' after the lambda variable 'p', found 'p'."],
    ["parameters/any('p': p/name eq 'a')", "Syntax error in $filter at position 16: expected a lambda variable name after 'any(', found the string 'p'."],
    ["parameters/any(and: and/name eq 'a')", "Syntax error in $filter at position 16: expected a lambda variable name after 'any(', found 'and'."],
    ["parameters/any(null: null/name eq 'a')", "Syntax error in $filter at position 16: expected a lambda variable name after 'any(', found 'null'."],
    ["parameters/any(a.b: a.b/name eq 'a')", "Syntax error in $filter at position 16: expected a lambda variable name after 'any(', found 'a.b'."],
    ["vendorInformation/provider(name) eq 'a'", "Syntax error in $filter at position 27: 'vendorInformation/provider' is not a function."],
    ["parameters/any(p: p/name eq 'a'", "Syntax error in $filter at position 32: expected ')' to close the lambda at position 1, found end of input."],
    ['createdDateTime ge 2024-01-01', 'Syntax error in $filter at position 20: the date 2024-01-01 has no time; write a DateTimeOffset such as 2024-01-01T00:00:00Z.'],
    ['createdDateTime ge 2024-01-01T00:00:00', 'Syntax error in $filter at position 20: the DateTimeOffset 2024-01-01T00:00:00 needs a time zone: append Z or ±hh:mm.'],
    ['createdDateTime ge 2024-13-01T00:00:00Z', "Syntax error in $filter at position 20: '2024-13-01T00:00:00Z' is not a valid DateTimeOffset."],
    ['createdDateTime ge 2023-02-29T00:00:00Z', "Syntax error in $filter at position 20: '2023-02-29T00:00:00Z' is not a valid DateTimeOffset."],
    ['createdDateTime ge 2024-01-01T24:00:00Z', "Syntax error in $filter at position 20: '2024-01-01T24:00:00Z' is not a valid DateTimeOffset."],
    ['createdDateTime ge 2024-01-01T00:00:00+24:00', "Syntax error in $filter at position 20: '2024-01-01T00:00:00+24:00' is not a valid DateTimeOffset."],
    ["name eq 'a'\u0001", 'Syntax error in $filter at position 12: unexpected character U+0001.'],
    ["name eq 'a\u0000'", 'Syntax error in $filter at position 9: the string literal contains a NUL character or an unpaired surrogate.'],
    ["name eq '\uD800'", 'Syntax error in $filter at position 9: the string literal contains a NUL character or an unpaired surrogate.'],
    ["nаme eq 'a'", "Syntax error in $filter at position 2: unexpected character 'а' (U+0430)."],
    ['name eq @p', "Syntax error in $filter at position 9: unexpected character '@' (U+0040)."],
    ["$it/name eq 'a'", "Syntax error in $filter at position 1: unexpected character '$' (U+0024)."],
  ])('%j', (filter, expected) => {
    expect(messageOf(filter)).toContain(expected);
  });
});

describe('parseFilter: semantic errors', () => {
  it.each([
    ["foo eq 'a'", "$filter: unknown property 'foo' at position 1. Filterable properties: id, name, status,"],
    ["name eq 'a' and vendorInformation/foo eq 'b'", "$filter: unknown property 'vendorInformation/foo' at position 17."],
    ["__proto__ eq 'a'", "$filter: unknown property '__proto__' at position 1."],
    ["constructor eq 'a'", "$filter: unknown property 'constructor' at position 1."],
    ["vendorInformation /provider eq 'x'", "$filter: unknown property 'vendorInformation' at position 1."],
    ["errorInfo eq 'a'", "$filter: unknown property 'errorInfo' at position 1."],
    ["parameters eq 'a'", "$filter: 'parameters' at position 1 is a collection; filter it with parameters/any(p: p/name eq 'IP')."],
    ["p/name eq 'a'", "$filter: unknown property 'p/name' at position 1."],
    ['name eq 5', "$filter: the number 5 at position 9 is not valid for 'name', a string property; quote it: '5'."],
    ['name eq -1.5e3', "$filter: the number -1.5e3 at position 9 is not valid for 'name', a string property; quote it: '-1.5e3'."],
    ['id eq 8a7d9c1e-0000-4000-8000-000000000001', "$filter: the guid 8a7d9c1e-0000-4000-8000-000000000001 at position 7 is not valid for 'id', a string property; quote it:"],
    ['name eq 2024-01-01T00:00:00Z', "$filter: the DateTimeOffset 2024-01-01T00:00:00Z at position 9 is not valid for 'name', a string property; quote it:"],
    ['name eq true', "$filter: 'true' at position 9 is not valid for 'name', a string property; booleans may only follow a function or lambda"],
    ["name eq microsoft.graph.operationStatus'Running'", "$filter: the enum microsoft.graph.operationStatus'Running' at position 9 is not valid for 'name', a string property"],
    ['createdDateTime eq 5', "$filter: the number 5 at position 20 is not valid for 'createdDateTime'; write a DateTimeOffset such as 2024-01-01T00:00:00Z."],
    ["createdDateTime eq 'yesterday'", "$filter: 'yesterday' at position 20 is not a valid DateTimeOffset for 'createdDateTime'; write a DateTimeOffset such as"],
    ["createdDateTime eq '2024-01-01'", "$filter: '2024-01-01' at position 20 is not a valid DateTimeOffset for 'createdDateTime'"],
    ["status eq 'Done'", "$filter: 'Done' at position 11 is not a valid value for 'status'. Accepted values: NotStarted, Running, Completed, Failed."],
    ["status in ('Running', 'Done')", "$filter: 'Done' at position 23 is not a valid value for 'status'. Accepted values: NotStarted, Running, Completed, Failed."],
    ["status eq microsoft.graph.foo'Running'", "$filter: unknown enumeration type 'microsoft.graph.foo' at position 11;"],
    ['status eq 1', "$filter: the number 1 at position 11 is not valid for 'status'. Accepted values: NotStarted, Running, Completed, Failed."],
    ["status gt 'Running'", "$filter: 'gt' at position 8 is not supported on 'status', an enumeration; use eq, ne or in."],
    ["'Running' lt status", "$filter: 'lt' at position 11 is not supported on 'status', an enumeration; use eq, ne or in."],
    ['name gt null', "$filter: 'gt' cannot compare with null (null at position 9); use eq null or ne null."],
    ['null le createdDateTime', "$filter: 'le' cannot compare with null (null at position 1); use eq null or ne null."],
    ["name in ('a', null)", "$filter: null at position 15 is not allowed in an 'in' list; use 'name eq null'."],
    ["name has 'a'", "$filter: operator 'has' at position 6 is not supported. Supported operators: eq, ne, gt, ge, lt, le, in, not, and, or."],
    ['name add 1', "$filter: operator 'add' at position 6 is not supported."],
    ["tolower(name) eq 'a'", "$filter: function 'tolower' at position 1 is not supported. Supported functions: startswith, endswith, contains."],
    ["startswith(status,'R')", "$filter: startswith at position 1 applies only to string properties; 'status' is an enumeration."],
    ["endswith(createdDateTime,'Z')", "$filter: endswith at position 1 applies only to string properties; 'createdDateTime' is a DateTimeOffset."],
    ['contains(name,null)', "$filter: contains at position 1 needs a string literal as its second argument, found 'null' at position 15."],
    ['contains(name,5)', '$filter: contains at position 1 needs a string literal as its second argument, found the number 5 at position 15.'],
    ["parameters/all(p: p/name eq 'a')", "$filter: the lambda operator 'all' at position 12 is not supported in Microsoft Graph; use 'any'."],
    ["parameters/any(p: parameters/any(q: q/name eq 'a'))", '$filter: the lambda at position 19 is nested inside another lambda, which is not supported.'],
    ["parameters/any(p: parameters/any())", '$filter: the lambda at position 19 is nested inside another lambda'],
    ["states/any(s: s/status eq 'Running')", "$filter: 'states' at position 1 is not a collection; only 'parameters' supports any()."],
    ["parameters/any(p: name eq 'a')", "$filter: 'name' at position 19 cannot be used inside the lambda; only p/name and p/value are allowed."],
    ["parameters/any(p: q/name eq 'a')", "$filter: 'q/name' at position 19 cannot be used inside the lambda; only p/name and p/value are allowed."],
    ["parameters/any(p: p/kind eq 'a')", "$filter: unknown property 'p/kind' at position 19. Inside the lambda, use p/name or p/value."],
    ["parameters/any(p: p eq 'a')", "$filter: unknown property 'p' at position 19. Inside the lambda, use p/name or p/value."],
    ["parameters/any(p: p/name/x eq 'a')", "$filter: unknown property 'p/name/x' at position 19."],
  ])('%j', (filter, expected) => {
    expect(messageOf(filter)).toContain(expected);
  });

  it('truncates and sanitises echoed terms', () => {
    const message = messageOf(`${'x'.repeat(500)} eq 'a'`);
    expect(message.length).toBeLessThan(700);
    expect(message).toContain('…');
  });
});

describe('parseFilter: limits', () => {
  it(`rejects filters longer than ${filterLimits.maxLength} characters`, () => {
    const ok = `name eq '${'a'.repeat(filterLimits.maxLength - 10)}'`;
    expect(ok.length).toBe(filterLimits.maxLength);
    expect(() => parseFilter(ok)).not.toThrow();
    expect(messageOf(`${ok} `)).toBe('$filter is too long (4097 characters); the limit is 4096.');
  });

  it(`rejects nesting deeper than ${filterLimits.maxDepth}`, () => {
    const nested = (n: number) => `${'('.repeat(n)}name eq 'a'${')'.repeat(n)}`;
    expect(() => parseFilter(nested(32))).not.toThrow();
    expect(messageOf(nested(33))).toBe('$filter is nested too deeply at position 33; the limit is 32 levels.');
    expect(messageOf(`${'not '.repeat(33)}(name eq 'a')`)).toBe('$filter is nested too deeply at position 129; the limit is 32 levels.');
    expect(messageOf('('.repeat(4000))).toContain('nested too deeply');
  });

  it('counts a lambda as a level', () => {
    const inner = `${'('.repeat(32)}p/name eq 'a'${')'.repeat(32)}`;
    expect(messageOf(`parameters/any(p: ${inner})`)).toContain('$filter is nested too deeply at position 50');
    expect(() => parseFilter(`parameters/any(p: ${inner.slice(1, -1)})`)).not.toThrow();
  });

  it(`rejects in lists longer than ${filterLimits.maxInItems}`, () => {
    const values = Array.from({ length: 101 }, (_, i) => `'${i}'`).join(',');
    expect(messageOf(`name in (${values})`)).toBe("$filter: the 'in' list at position 9 has more than 100 values.");
  });

  it(`rejects more than ${filterLimits.maxNodes} nodes`, () => {
    const terms = (n: number) => Array.from({ length: n }, () => "id eq 'a'").join(' or ');
    expect(() => parseFilter(terms(100))).not.toThrow(); // 100 leaves + 99 ors = 199 nodes
    expect(() => parseFilter(terms(100) + " or id eq 'b'")).toThrow(); // 201 nodes
    expect(messageOf(terms(150))).toMatch(/^\$filter has too many conditions at position \d+; the limit is 200 terms\.$/);
  });
});
