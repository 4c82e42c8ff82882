import { describe, it, expect } from 'vitest';
import { parseCountOptions, parseQueryOptions } from '../../src/odata/query-options.js';
import { queryErrorOf } from './expect-query-error.js';

describe('parseQueryOptions', () => {
  it('returns defaults for an empty query', () => {
    expect(parseQueryOptions({})).toEqual({ orderBy: [], count: false });
  });

  it('parses every supported option', () => {
    const options = parseQueryOptions({
      $filter: "status eq 'running'",
      $orderby: 'createdDateTime desc',
      $top: '5',
      $skip: '10',
      $count: 'true',
      $select: 'id,Status, name',
      $skiptoken: 'opaque-token',
      $format: 'application/json;odata.metadata=minimal',
    });
    expect(options).toEqual({
      filter: { type: 'compare', op: 'eq', property: 'status', value: 'Running' },
      filterText: "status eq 'running'",
      orderBy: [{ property: 'createdDateTime', direction: 'desc' }],
      orderByText: 'createdDateTime desc',
      top: 5,
      skip: 10,
      count: true,
      select: ['id', 'status', 'name'],
      skipToken: 'opaque-token',
    });
  });

  it('accepts option names without $ and in any case (beta)', () => {
    expect(parseQueryOptions({ filter: "name eq 'x'", TOP: '0', $Count: 'FALSE', Select: 'ID' })).toEqual({
      filter: { type: 'compare', op: 'eq', property: 'name', value: 'x' },
      filterText: "name eq 'x'",
      orderBy: [],
      top: 0,
      count: false,
      select: ['id'],
    });
  });

  it('ignores unknown parameters without $ and undefined values', () => {
    expect(parseQueryOptions({ 'api-version': '1', foo: ['a', 'b'], $top: undefined })).toEqual({ orderBy: [], count: false });
  });

  it('dedupes $select and treats * as everything', () => {
    expect(parseQueryOptions({ $select: 'id,ID,id' }).select).toEqual(['id']);
    expect(parseQueryOptions({ $select: '*' }).select).toBeUndefined();
    expect(parseQueryOptions({ $select: 'vendorInformation,parameters,states,errorInfo' }).select).toEqual([
      'vendorInformation', 'parameters', 'states', 'errorInfo',
    ]);
  });

  it.each(['0', '1000', '007'])('accepts $top=%s', (top) => {
    expect(parseQueryOptions({ $top: top }).top).toBe(Number(top));
  });

  it.each(['5000', '1001', '-1', '1.5', 'abc', '', ' 5', '1e3', '99999999999999999999'])('rejects $top=%j like Graph', (top) => {
    expect(queryErrorOf(() => parseQueryOptions({ $top: top }))).toBe(
      `Invalid page size specified: '${top}'. Must be between 0 and 1000 inclusive.`,
    );
  });

  it('validates $skip', () => {
    expect(parseQueryOptions({ $skip: '1000000' }).skip).toBe(1_000_000);
    expect(queryErrorOf(() => parseQueryOptions({ $skip: '1000001' }))).toBe(
      "Invalid value for $skip: '1000001'. Must be an integer between 0 and 1000000 inclusive.",
    );
    expect(queryErrorOf(() => parseQueryOptions({ skip: '-3' }))).toContain("Invalid value for $skip: '-3'.");
  });

  it.each([
    [{ $filter: 'a', filter: 'b' }, "Query option '$filter' is specified more than once."],
    [{ $top: ['1', '2'] }, "Query option '$top' is specified more than once."],
    [{ $TOP: '1', $top: '2' }, "Query option '$top' is specified more than once."],
    [{ $apply: 'x' }, "Query option '$apply' is not supported. Supported options: $filter, $orderby, $top, $skip, $select, $count, $skiptoken, $format."],
    [{ $levels: '2' }, "Query option '$levels' is not supported."],
    [{ $count: 'yes' }, "Invalid value for $count: 'yes'. Must be true or false."],
    [{ $select: 'id,foo' }, "$select: unknown property 'foo' at position 4. Selectable properties: id, name, status,"],
    [{ $select: 'id, vendorInformation/provider' }, "$select: unknown property 'vendorInformation/provider' at position 5."],
    [{ $select: 'id,,name' }, '$select: expected a property name at position 4.'],
    [{ $select: '' }, '$select: expected a property name at position 1.'],
    [{ $expand: 'states' }, "$expand: 'states' is not a navigation property; securityAction has no navigation properties."],
    [{ expand: '*' }, "$expand: '*' is not a navigation property"],
    [{ $search: 'BlockIp' }, '$search is not supported on securityActions; use $filter.'],
    [{ $format: 'xml' }, "$format 'xml' is not supported; use json."],
    [{ $format: 'application/atom+xml' }, "$format 'application/atom+xml' is not supported; use json."],
    [{ $skiptoken: '' }, 'Invalid $skiptoken: it must be 1 to 2048 characters'],
    [{ $skiptoken: 'x'.repeat(2049) }, 'Invalid $skiptoken: it must be 1 to 2048 characters'],
    [{ $filter: 'name eq' }, "Syntax error in $filter at position 8: expected a literal after 'eq', found end of input."],
    [{ $filter: '' }, 'Syntax error in $filter at position 1: expected a condition, found end of input.'],
    [{ $orderby: 'name up' }, "$orderby: unsupported direction 'up' at position 6; use asc or desc."],
  ])('%j is a 400', (query, expected) => {
    expect(queryErrorOf(() => parseQueryOptions(query))).toContain(expected);
  });

  it('accepts json as $format and keeps the longest $skiptoken', () => {
    expect(parseQueryOptions({ $format: 'JSON' })).toEqual({ orderBy: [], count: false });
    expect(parseQueryOptions({ $skiptoken: 'x'.repeat(2048) }).skipToken).toHaveLength(2048);
  });

  it('works on a null-prototype record, as Fastify builds it', () => {
    const query: Record<string, string> = Object.create(null);
    query.$top = '3';
    expect(parseQueryOptions(query).top).toBe(3);
  });
});

describe('parseCountOptions', () => {
  it('accepts $filter only', () => {
    expect(parseCountOptions({})).toEqual({});
    expect(parseCountOptions({ filter: 'parameters/any()', other: 'x' })).toEqual({
      filter: { type: 'anyNonEmpty', collection: 'parameters' },
      filterText: 'parameters/any()',
    });
  });

  it.each([
    [{ $search: 'x' }, '$search is not supported on securityActions; use $filter.'],
    [{ $top: '1' }, "Query option '$top' is not supported on $count; only $filter is."],
    [{ $count: 'true' }, "Query option '$count' is not supported on $count; only $filter is."],
    [{ $foo: '1' }, "Query option '$foo' is not supported."],
    [{ $filter: ['a', 'b'] }, "Query option '$filter' is specified more than once."],
    [{ $filter: 'foo eq 1' }, "$filter: unknown property 'foo' at position 1."],
  ])('%j is a 400', (query, expected) => {
    expect(queryErrorOf(() => parseCountOptions(query))).toContain(expected);
  });
});
