import { describe, it, expect } from 'vitest';
import type { FilterNode } from '../../src/odata/ast.js';
import { parseFilter } from '../../src/odata/filter-parser.js';

const eq = (property: string, value: string | number | null): FilterNode => ({ type: 'compare', op: 'eq', property, value });
const jan1 = Date.UTC(2024, 0, 1);

describe('parseFilter: comparisons', () => {
  it.each(['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const)('parses %s on a string property', (op) => {
    expect(parseFilter(`name ${op} 'BlockIp'`)).toEqual({ type: 'compare', op, property: 'name', value: 'BlockIp' });
  });

  it.each(['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const)('parses %s on a dateTimeOffset property', (op) => {
    expect(parseFilter(`createdDateTime ${op} 2024-01-01T00:00:00Z`)).toEqual({
      type: 'compare', op, property: 'createdDateTime', value: jan1,
    });
  });

  it('accepts eq null and ne null', () => {
    expect(parseFilter('user eq null')).toEqual(eq('user', null));
    expect(parseFilter('completedDateTime ne null')).toEqual({ type: 'compare', op: 'ne', property: 'completedDateTime', value: null });
  });

  it('canonicalises property names and keywords case-insensitively', () => {
    expect(parseFilter("NAME EQ 'x'")).toEqual(eq('name', 'x'));
    expect(parseFilter("VendorInformation/PROVIDER Eq 'x'")).toEqual(eq('vendorInformation/provider', 'x'));
    expect(parseFilter('createddatetime eq NULL')).toEqual(eq('createdDateTime', null));
  });

  it('accepts every filterable property path, including vendorInformation/*', () => {
    for (const p of ['id', 'actionReason', 'appId', 'azureTenantId', 'clientContext', 'user', 'vendorInformation/vendor',
      'vendorInformation/subProvider', 'vendorInformation/providerVersion']) {
      expect(parseFilter(`${p} eq 'v'`)).toEqual(eq(p, 'v'));
    }
  });

  it('unescapes doubled quotes and keeps unicode as is', () => {
    expect(parseFilter("actionReason eq 'O''Brien'")).toEqual(eq('actionReason', "O'Brien"));
    expect(parseFilter("name eq ''''")).toEqual(eq('name', "'"));
    expect(parseFilter("name eq ''")).toEqual(eq('name', ''));
    expect(parseFilter("name eq 'é😀\uE000'")).toEqual(eq('name', 'é😀\uE000'));
  });

  it('flips the operator when the literal is on the left', () => {
    expect(parseFilter("'x' eq name")).toEqual(eq('name', 'x'));
    expect(parseFilter("'x' ne name")).toEqual({ type: 'compare', op: 'ne', property: 'name', value: 'x' });
    expect(parseFilter("'x' gt name")).toEqual({ type: 'compare', op: 'lt', property: 'name', value: 'x' });
    expect(parseFilter("'x' ge name")).toEqual({ type: 'compare', op: 'le', property: 'name', value: 'x' });
    expect(parseFilter('2024-01-01T00:00:00Z lt createdDateTime')).toEqual({ type: 'compare', op: 'gt', property: 'createdDateTime', value: jan1 });
    expect(parseFilter('2024-01-01T00:00:00Z le createdDateTime')).toEqual({ type: 'compare', op: 'ge', property: 'createdDateTime', value: jan1 });
    expect(parseFilter('null eq user')).toEqual(eq('user', null));
    expect(parseFilter("'running' eq status")).toEqual(eq('status', 'Running'));
  });

  it('tolerates whitespace: none around punctuation, several spaces, tabs and newlines', () => {
    expect(parseFilter("  name\teq\n'x'  ")).toEqual(eq('name', 'x'));
    expect(parseFilter("(name eq 'x')")).toEqual(eq('name', 'x'));
    expect(parseFilter("( ( name eq 'x' ) )")).toEqual(eq('name', 'x'));
    expect(parseFilter("name in('a','b')")).toEqual({ type: 'in', property: 'name', values: ['a', 'b'] });
  });
});

describe('parseFilter: DateTimeOffset literals', () => {
  it.each([
    ['2024-01-01T00:00:00Z', jan1],
    ['2024-01-01T00:00Z', jan1],
    ['2024-01-01t00:00:00z', jan1],
    ['2024-01-01T00:00:00.5Z', jan1 + 500],
    ['2024-01-01T00:00:00.123Z', jan1 + 123],
    ['2024-01-01T00:00:00.1239999Z', jan1 + 123],
    ['2024-01-01T01:00:00+01:00', jan1],
    ['2023-12-31T18:30:00-05:30', jan1],
    ['2024-01-01T01:00:00 01:00', jan1], // '+' decoded to ' ' by form decoding
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['0001-01-01T00:00:00Z', -62135596800000],
  ])('%s is epoch %d', (literal, epoch) => {
    expect(parseFilter(`createdDateTime ge ${literal}`)).toEqual({ type: 'compare', op: 'ge', property: 'createdDateTime', value: epoch });
  });

  it('accepts quoted ISO strings for dateTimeOffset properties', () => {
    expect(parseFilter("expirationDateTime lt '2024-01-01T00:00:00Z'")).toEqual({
      type: 'compare', op: 'lt', property: 'expirationDateTime', value: jan1,
    });
    expect(parseFilter("lastActionDateTime eq '2024-01-01T02:00:00.000+02:00'")).toEqual(eq('lastActionDateTime', jan1));
  });

  it('keeps a date-looking string as a string for string properties', () => {
    expect(parseFilter("clientContext eq '2024-01-01T00:00:00Z'")).toEqual(eq('clientContext', '2024-01-01T00:00:00Z'));
  });
});

describe('parseFilter: status', () => {
  it('canonicalises status literals to PascalCase in every form', () => {
    expect(parseFilter("status eq 'completed'")).toEqual(eq('status', 'Completed'));
    expect(parseFilter("status eq 'NOTSTARTED'")).toEqual(eq('status', 'NotStarted'));
    expect(parseFilter("status eq microsoft.graph.operationStatus'Completed'")).toEqual(eq('status', 'Completed'));
    expect(parseFilter("status ne Microsoft.Graph.OperationStatus'running'")).toEqual({ type: 'compare', op: 'ne', property: 'status', value: 'Running' });
    expect(parseFilter("status in ('failed', microsoft.graph.operationStatus'Running')")).toEqual({
      type: 'in', property: 'status', values: ['Failed', 'Running'],
    });
  });
});

describe('parseFilter: in', () => {
  it('parses parenthesised and bracketed lists', () => {
    expect(parseFilter("name in ('a')")).toEqual({ type: 'in', property: 'name', values: ['a'] });
    expect(parseFilter("name IN ( 'a' , 'b','c' )")).toEqual({ type: 'in', property: 'name', values: ['a', 'b', 'c'] });
    expect(parseFilter("name in ['a','b']")).toEqual({ type: 'in', property: 'name', values: ['a', 'b'] });
  });

  it('coerces dates in lists and accepts exactly 100 values', () => {
    expect(parseFilter("createdDateTime in (2024-01-01T00:00:00Z, '2024-01-01T00:00:00.001Z')")).toEqual({
      type: 'in', property: 'createdDateTime', values: [jan1, jan1 + 1],
    });
    const values = Array.from({ length: 100 }, (_, i) => `'v${i}'`).join(',');
    expect(parseFilter(`id in (${values})`)).toMatchObject({ type: 'in', property: 'id' });
  });
});

describe('parseFilter: string functions', () => {
  it.each(['startswith', 'endswith', 'contains'] as const)('parses %s as a predicate', (name) => {
    expect(parseFilter(`${name}(name,'Bl')`)).toEqual({ type: 'function', name, property: 'name', value: 'Bl' });
    expect(parseFilter(`${name.toUpperCase()}( vendorInformation/provider , 'x' )`)).toEqual({
      type: 'function', name, property: 'vendorInformation/provider', value: 'x',
    });
  });

  it('folds eq/ne true/false', () => {
    const fn: FilterNode = { type: 'function', name: 'contains', property: 'name', value: 'x' };
    expect(parseFilter("contains(name,'x') eq true")).toEqual(fn);
    expect(parseFilter("contains(name,'x') ne false")).toEqual(fn);
    expect(parseFilter("contains(name,'x') eq false")).toEqual({ type: 'not', operand: fn });
    expect(parseFilter("contains(name,'x') NE TRUE")).toEqual({ type: 'not', operand: fn });
    expect(parseFilter("(name eq 'a') eq false")).toEqual({ type: 'not', operand: eq('name', 'a') });
  });

  it('accepts an empty needle', () => {
    expect(parseFilter("startswith(name,'')")).toEqual({ type: 'function', name: 'startswith', property: 'name', value: '' });
  });
});

describe('parseFilter: lambda', () => {
  it('parses parameters/any with a compound predicate', () => {
    expect(parseFilter("parameters/any(p: p/name eq 'IP' and p/value eq '203.0.113.7')")).toEqual({
      type: 'any', collection: 'parameters',
      predicate: { type: 'and', left: eq('name', 'IP'), right: eq('value', '203.0.113.7') },
    });
  });

  it('accepts any variable name, case-insensitively, and no space after the colon', () => {
    expect(parseFilter("parameters/any(kv:kv/value eq '1.2.3.4')")).toEqual({ type: 'any', collection: 'parameters', predicate: eq('value', '1.2.3.4') });
    expect(parseFilter("Parameters/ANY(X: x/NAME eq 'IP')")).toEqual({ type: 'any', collection: 'parameters', predicate: eq('name', 'IP') });
    expect(parseFilter("parameters/any(name: name/name eq 'IP')")).toEqual({ type: 'any', collection: 'parameters', predicate: eq('name', 'IP') });
  });

  it('allows functions, in, not, or and null inside the lambda', () => {
    expect(parseFilter("parameters/any(p: not startswith(p/value,'10.') or p/value eq null or p/name in ('IP','Url'))")).toEqual({
      type: 'any', collection: 'parameters',
      predicate: {
        type: 'or',
        left: {
          type: 'or',
          left: { type: 'not', operand: { type: 'function', name: 'startswith', property: 'value', value: '10.' } },
          right: eq('value', null),
        },
        right: { type: 'in', property: 'name', values: ['IP', 'Url'] },
      },
    });
  });

  it('parses parameters/any() as non-empty', () => {
    expect(parseFilter('parameters/any()')).toEqual({ type: 'anyNonEmpty', collection: 'parameters' });
    expect(parseFilter('not parameters/any( )')).toEqual({ type: 'not', operand: { type: 'anyNonEmpty', collection: 'parameters' } });
  });

  it('combines a lambda with outer conditions', () => {
    expect(parseFilter("name eq 'BlockIp' and parameters/any(p: p/value eq 'x')")).toEqual({
      type: 'and', left: eq('name', 'BlockIp'), right: { type: 'any', collection: 'parameters', predicate: eq('value', 'x') },
    });
  });
});

describe('parseFilter: precedence', () => {
  const a = eq('name', 'a');
  const b = eq('name', 'b');
  const c = eq('name', 'c');

  it('and binds tighter than or', () => {
    expect(parseFilter("name eq 'a' or name eq 'b' and name eq 'c'")).toEqual({ type: 'or', left: a, right: { type: 'and', left: b, right: c } });
    expect(parseFilter("name eq 'a' and name eq 'b' or name eq 'c'")).toEqual({ type: 'or', left: { type: 'and', left: a, right: b }, right: c });
  });

  it('is left-associative', () => {
    expect(parseFilter("name eq 'a' or name eq 'b' or name eq 'c'")).toEqual({ type: 'or', left: { type: 'or', left: a, right: b }, right: c });
    expect(parseFilter("name eq 'a' and name eq 'b' and name eq 'c'")).toEqual({ type: 'and', left: { type: 'and', left: a, right: b }, right: c });
  });

  it('parentheses override precedence', () => {
    expect(parseFilter("(name eq 'a' or name eq 'b') and name eq 'c'")).toEqual({ type: 'and', left: { type: 'or', left: a, right: b }, right: c });
  });

  it('not binds to the next primary only', () => {
    expect(parseFilter("not (name eq 'a') and name eq 'b'")).toEqual({ type: 'and', left: { type: 'not', operand: a }, right: b });
    expect(parseFilter("not (name eq 'a' or name eq 'b')")).toEqual({ type: 'not', operand: { type: 'or', left: a, right: b } });
    expect(parseFilter("NOT not (name eq 'a')")).toEqual({ type: 'not', operand: { type: 'not', operand: a } });
    expect(parseFilter("not(name eq 'a')")).toEqual({ type: 'not', operand: a });
  });

  it('not binds tighter than the folded comparison', () => {
    const fn: FilterNode = { type: 'function', name: 'startswith', property: 'name', value: 'a' };
    expect(parseFilter("not startswith(name,'a') eq false")).toEqual({ type: 'not', operand: { type: 'not', operand: fn } });
  });
});
