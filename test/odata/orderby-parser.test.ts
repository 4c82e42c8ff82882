import { describe, it, expect } from 'vitest';
import { parseOrderBy } from '../../src/odata/orderby-parser.js';
import { queryErrorOf } from './expect-query-error.js';

describe('parseOrderBy', () => {
  it('defaults to ascending and accepts asc/desc in any case', () => {
    expect(parseOrderBy('name')).toEqual([{ property: 'name', direction: 'asc' }]);
    expect(parseOrderBy('createdDateTime DESC')).toEqual([{ property: 'createdDateTime', direction: 'desc' }]);
    expect(parseOrderBy('createdDateTime Asc')).toEqual([{ property: 'createdDateTime', direction: 'asc' }]);
  });

  it('parses a comma list with canonical names and paths, tolerating whitespace', () => {
    expect(parseOrderBy(' status desc ,VENDORINFORMATION/provider,id   asc ')).toEqual([
      { property: 'status', direction: 'desc' },
      { property: 'vendorInformation/provider', direction: 'asc' },
      { property: 'id', direction: 'asc' },
    ]);
  });

  it('accepts 8 keys', () => {
    const keys = ['id', 'name', 'status', 'user', 'appId', 'createdDateTime', 'completedDateTime', 'expirationDateTime'];
    expect(parseOrderBy(keys.join(','))).toHaveLength(8);
  });

  it.each([
    ['name up', "$orderby: unsupported direction 'up' at position 6; use asc or desc."],
    ['foo', "$orderby: unknown property 'foo' at position 1. Sortable properties: id, name, status,"],
    ['name, parameters', "$orderby: unknown property 'parameters' at position 7. 'parameters' is a collection and cannot be sorted."],
    ['states', "$orderby: unknown property 'states' at position 1."],
    ['__proto__', "$orderby: unknown property '__proto__' at position 1."],
    ['vendorInformation', "$orderby: unknown property 'vendorInformation' at position 1."],
    ['name,NAME desc', "$orderby: property 'name' at position 6 is listed more than once."],
    ['', 'Syntax error in $orderby at position 1: expected a property name, found end of input.'],
    ['name,', "Syntax error in $orderby at position 6: expected a property name after ',', found end of input."],
    [',name', "Syntax error in $orderby at position 1: expected a property name, found ','."],
    ['name asc desc', "Syntax error in $orderby at position 10: expected ',' or end of input after 'name', found 'desc'."],
    ['name desc;drop table x', "Syntax error in $orderby at position 10: unexpected character ';' (U+003B)."],
    ["name eq 'a'", "$orderby: unsupported direction 'eq' at position 6; use asc or desc."],
    ['vendorInformation/ provider', "Syntax error in $orderby at position 20: expected a property name right after '/', found 'provider'."],
    ['name(', "Syntax error in $orderby at position 5: expected ',' or end of input after 'name', found '('."],
    ['1', "Syntax error in $orderby at position 1: expected a property name, found the number 1."],
  ])('%j is a 400', (text, expected) => {
    expect(queryErrorOf(() => parseOrderBy(text))).toContain(expected);
  });

  it('rejects more than 8 keys and overlong input', () => {
    const keys = ['id', 'name', 'status', 'user', 'appId', 'createdDateTime', 'completedDateTime', 'expirationDateTime', 'clientContext'];
    expect(queryErrorOf(() => parseOrderBy(keys.join(',')))).toBe(
      `$orderby has more than 8 keys (key 9 starts at position ${keys.slice(0, 8).join(',').length + 2}).`,
    );
    expect(queryErrorOf(() => parseOrderBy(`name${' '.repeat(2000)}`))).toBe('$orderby is too long (2004 characters); the limit is 1024.');
  });
});
