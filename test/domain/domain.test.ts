import { describe, expect, it } from 'vitest';
import { domainAncestry, domainCovers, normalizeDomain, normalizeHostname } from '../../src/domain/indicators/domain.js';

describe('normalizeDomain', () => {
  it.each([
    ['example.com', 'example.com'],
    ['EXAMPLE.Com', 'example.com'],
    ['  example.com  ', 'example.com'],
    ['example.com.', 'example.com'],
    ['www.example.co.uk', 'www.example.co.uk'],
    ['a_b.example.com', 'a_b.example.com'],
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['a-b.example', 'a-b.example'],
    ['ab--cd.example', 'ab--cd.example'],
    ['1.example', '1.example'],
    ['123.example.com', '123.example.com'],
    ['example.com1', 'example.com1'],
    ['*.example.com', '*.example.com'],
    ['*.EXAMPLE.com.', '*.example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['münchen。de', 'xn--mnchen-3ya.de'], // ideographic full stop is an IDNA dot
    ['*.bücher.example', '*.xn--bcher-kva.example'],
    [`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`],
    [`${'a.'.repeat(125)}ab`, `${'a.'.repeat(125)}ab`], // 252 characters
  ])('%s → %s', (input, expected) => {
    expect(normalizeDomain(input)).toBe(expected);
  });

  it.each([
    '',
    '.',
    'com', // a single label would block a TLD
    'localhost',
    '*.com',
    '*',
    '*.',
    'a..b.com',
    '.example.com',
    'example.com..',
    '-a.example.com',
    'a-.example.com',
    'a.-example.com',
    `${'a'.repeat(64)}.example`,
    `${'a.'.repeat(126)}ab`, // 254 characters
    'exa mple.com',
    'example.com/path',
    'http://example.com',
    'user@example.com',
    'example.com:443',
    'ex%61mple.com', // percent-decoding would change the name
    'ex!ample.com',
    'a*.example.com',
    'a.*.example.com',
    '**.example.com',
    'example.*',
    '1.2.3.4',
    '0x7f.1',
    'example.123',
    '[::1]',
    '::1',
    'xn--zz.example', // invalid punycode
    'ex\u0000ample.com',
  ])('rejects %j', (input) => {
    expect(normalizeDomain(input)).toBeUndefined();
  });
});

describe('normalizeHostname', () => {
  it('allows single labels and forbids wildcards on request', () => {
    expect(normalizeHostname('LocalHost', { wildcard: false, minLabels: 1 })).toBe('localhost');
    expect(normalizeHostname('localhost', { wildcard: false, minLabels: 2 })).toBeUndefined();
    expect(normalizeHostname('*.example.com', { wildcard: false, minLabels: 2 })).toBeUndefined();
    expect(normalizeHostname('123', { wildcard: false, minLabels: 1 })).toBeUndefined();
  });
});

describe('domainCovers', () => {
  it.each([
    ['example.com', 'example.com', true],
    ['example.com', 'api.example.com', true],
    ['example.com', 'a.b.example.com', true],
    ['example.com', '*.example.com', true],
    ['example.com', 'badexample.com', false],
    ['example.com', 'example.com.evil', false],
    ['example.com', 'com', false],
    ['api.example.com', 'example.com', false],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', '*.example.com', true],
    ['*.example.com', '*.a.example.com', true],
    ['*.example.com', 'badexample.com', false],
    ['*.a.example.com', '*.example.com', false],
    ['a.example.com', '*.example.com', false],
  ])('blocking %s covers %s: %s', (blocked, other, expected) => {
    expect(domainCovers(blocked, other)).toBe(expected);
  });
});

describe('domainAncestry', () => {
  it('lists the name then its ancestors', () => {
    expect(domainAncestry('a.b.example')).toEqual(['a.b.example', 'b.example', 'example']);
    expect(domainAncestry('*.b.example')).toEqual(['b.example', 'example']);
    expect(domainAncestry('localhost')).toEqual(['localhost']);
  });
});
