import { describe, expect, it } from 'vitest';
import { maxUrlLength, normalizeUrl, toEdlUrl, urlHost } from '../../src/domain/indicators/url.js';

describe('normalizeUrl', () => {
  it.each([
    ['https://evil.example/a?b=1', 'https://evil.example/a?b=1'],
    ['https://Evil.example/a?b=1#x', 'https://evil.example/a?b=1'],
    ['HTTP://EVIL.EXAMPLE/Path', 'http://evil.example/Path'], // paths keep their case
    ['https://evil.example', 'https://evil.example/'],
    ['  https://evil.example/x  ', 'https://evil.example/x'],
    ['https://evil.example:443/x', 'https://evil.example/x'],
    ['http://evil.example:8080/x', 'http://evil.example:8080/x'],
    ['https://evil.example./x', 'https://evil.example/x'],
    ['https://bücher.example/ü?q=ü', 'https://xn--bcher-kva.example/%C3%BC?q=%C3%BC'],
    ['https://a_b.example/', 'https://a_b.example/'],
    ['http://203.0.113.7/x', 'http://203.0.113.7/x'],
    ['http://0x7f.1/', 'http://127.0.0.1/'], // numeric IPv4 forms become dotted
    ['http://[2001:DB8::1]:8443/x', 'http://[2001:db8::1]:8443/x'],
    ['https://evil.example/a/../b', 'https://evil.example/b'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeUrl(input)).toBe(expected);
  });

  it.each([
    '',
    'evil.example/a',
    '//evil.example/a',
    'ftp://evil.example/a',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'http:evil.example',
    'http:/evil.example',
    'http://',
    'https://user:pass@evil.example/',
    'https://user@evil.example/',
    'https://evil.example/a\tb',
    'https://evil.example/a b',
    'https://evil.ex\nample/',
    'https://*.evil.example/',
    'https://ex!ample.com/',
    'https://localhost/',
    'https://example.123/',
    'https://[fe80::1%25eth0]/',
    'https://evil.example:99999/',
    `https://evil.example/${'a'.repeat(maxUrlLength)}`,
  ])('rejects %j', (input) => {
    expect(normalizeUrl(input)).toBeUndefined();
  });

  it('accepts exactly the maximum length', () => {
    const prefix = 'https://evil.example/';
    const url = prefix + 'a'.repeat(maxUrlLength - prefix.length);
    expect(normalizeUrl(url)).toBe(url);
    expect(normalizeUrl(`${url}a`)).toBeUndefined();
  });
});

describe('urlHost', () => {
  it('returns the bare host', () => {
    expect(urlHost('https://evil.example:8443/a')).toBe('evil.example');
    expect(urlHost('http://[2001:db8::1]/')).toBe('2001:db8::1');
    expect(urlHost('http://203.0.113.7/')).toBe('203.0.113.7');
  });
});

describe('toEdlUrl', () => {
  it.each([
    ['https://Evil.example/a?b=1#x', 'evil.example/a?b=1'],
    ['http://evil.example/', 'evil.example/'],
    ['http://evil.example:8080/p', 'evil.example/p'],
    ['http://[2001:db8::1]/p', '[2001:db8::1]/p'],
    ['https://xn--bcher-kva.example/%C3%BC', 'xn--bcher-kva.example/%C3%BC'],
  ])('%s → %s', (input, expected) => {
    expect(toEdlUrl(normalizeUrl(input) ?? 'invalid')).toBe(expected);
  });
});
