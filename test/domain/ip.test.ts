import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  cidrRange,
  cidrsOverlap,
  formatAddress,
  formatCidr,
  mergeRanges,
  normalizeIpOrCidr,
  parseIpOrCidr,
  toIpv4Mapped,
} from '../../src/domain/indicators/ip.js';
import type { Cidr } from '../../src/domain/indicators/ip.js';

function cidr(text: string): Cidr {
  const parsed = parseIpOrCidr(text);
  if (!parsed) throw new Error(`test setup: ${text} does not parse`);
  return parsed;
}

describe('parseIpOrCidr / formatCidr', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['203.0.113.7/32', '203.0.113.7'],
    ['10.0.0.7/24', '10.0.0.0/24'],
    ['10.255.255.255/8', '10.0.0.0/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.0.2.1/0', '0.0.0.0/0'],
    ['255.255.255.255', '255.255.255.255'],
    ['0.0.0.0', '0.0.0.0'],
    ['  198.51.100.1  ', '198.51.100.1'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8::1/128', '2001:db8::1'],
    ['2001:db8::7/32', '2001:db8::/32'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs is compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['::', '::'],
    ['::/0', '::/0'],
    ['::/128', '::'],
    ['::1', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80::/10', 'fe80::/10'],
    ['fe80::1/10', 'fe80::/10'],
    ['FF02::1', 'ff02::1'],
    ['1::', '1::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:10.1.2.3/104', '10.0.0.0/8'],
    ['::ffff:0:0/95', '::fffe:0:0/95'], // wider than the mapped block: stays IPv6
    ['::1.2.3.4', '::102:304'], // IPv4-compatible (deprecated) is not mapped
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeIpOrCidr(input)).toBe(expected);
  });

  it.each([
    '',
    ' ',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.-1',
    '01.2.3.4', // leading zero: octal to inet_aton
    '10.0.0.010',
    '127.1',
    '0x7f.0.0.1',
    '2130706433',
    '1.2.3.4/33',
    '1.2.3.4/-1',
    '1.2.3.4/',
    '1.2.3.4/024',
    '1.2.3.4/8/8',
    '1.2.3.4 /8',
    '1.2.3.4/ 8',
    '1.2. 3.4',
    '2001:db8::/129',
    'fe80::1%eth0',
    'fe80::1%25eth0',
    '[::1]',
    '1::2::3',
    ':::',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '12345::1',
    'g::1',
    '::1.2.3.4:1',
    '::ffff:01.2.3.4',
    '1.2.3.4::',
    'example.com',
    '1.2.3.4\n/8',
    '2001:db8:: 1',
  ])('rejects %j', (input) => {
    expect(parseIpOrCidr(input)).toBeUndefined();
  });

  it('keeps the family and prefix', () => {
    expect(parseIpOrCidr('10.0.0.7/24')).toEqual({ family: 4, network: 0x0a000000n, prefix: 24 });
    expect(parseIpOrCidr('::1')).toEqual({ family: 6, network: 1n, prefix: 128 });
    expect(formatCidr({ family: 6, network: 0n, prefix: 0 })).toBe('::/0');
  });
});

describe('formatAddress', () => {
  it('renders both families', () => {
    expect(formatAddress(4, 0xc0000201n)).toBe('192.0.2.1');
    expect(formatAddress(6, (1n << 128n) - 1n)).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    expect(formatAddress(6, 0x20010db8n << 96n)).toBe('2001:db8::');
  });
});

describe('ranges, overlap and containment', () => {
  it('computes inclusive ranges', () => {
    expect(cidrRange(cidr('10.0.0.0/8'))).toEqual({ first: 0x0a000000n, last: 0x0affffffn });
    expect(cidrRange(cidr('1.2.3.4'))).toEqual({ first: 0x01020304n, last: 0x01020304n });
    expect(cidrRange(cidr('::/0'))).toEqual({ first: 0n, last: (1n << 128n) - 1n });
  });

  it.each([
    ['10.0.0.0/8', '10.1.2.3', true],
    ['10.1.2.3', '10.0.0.0/8', true],
    ['10.0.0.0/8', '11.0.0.0/8', false],
    ['0.0.0.0/0', '203.0.113.7', true],
    ['10.0.0.0/24', '10.0.1.0/24', false],
    ['2001:db8::/32', '2001:db8:1::/48', true],
    ['2001:db8::/32', '2001:db9::/32', false],
    ['::/0', '0.0.0.0/0', false], // families never overlap
  ])('overlap(%s, %s) = %s', (a, b, expected) => {
    expect(cidrsOverlap(cidr(a), cidr(b))).toBe(expected);
  });

  it('contains only inward', () => {
    expect(cidrContains(cidr('10.0.0.0/8'), cidr('10.2.0.0/16'))).toBe(true);
    expect(cidrContains(cidr('10.2.0.0/16'), cidr('10.0.0.0/8'))).toBe(false);
    expect(cidrContains(cidr('10.0.0.0/8'), cidr('10.0.0.0/8'))).toBe(true);
    expect(cidrContains(cidr('fe80::/10'), cidr('febf::1'))).toBe(true);
    expect(cidrContains(cidr('fe80::/10'), cidr('fec0::1'))).toBe(false);
  });

  it('maps IPv4 ranges into ::ffff:0:0/96', () => {
    expect(formatCidr(toIpv4Mapped(cidr('10.0.0.0/8')))).toBe('::ffff:a00:0/104');
    expect(toIpv4Mapped(cidr('::1'))).toEqual(cidr('::1'));
  });
});

describe('mergeRanges', () => {
  type Pair = [number, number];
  const r = (first: number, last: number) => ({ first: BigInt(first), last: BigInt(last) });
  const ranges = (pairs: Pair[]) => pairs.map(([first, last]) => r(first, last));

  it.each<[Pair[], Pair[]]>([
    [[], []],
    [[[5, 9]], [[5, 9]]],
    [[[10, 20], [1, 3]], [[1, 3], [10, 20]]],
    [[[1, 5], [3, 8]], [[1, 8]]],
    [[[1, 5], [6, 8]], [[1, 8]]], // adjacent ranges merge
    [[[1, 5], [7, 8]], [[1, 5], [7, 8]]],
    [[[1, 10], [2, 3], [4, 5]], [[1, 10]]], // nested
    [[[4, 4], [4, 4]], [[4, 4]]],
    [[[8, 9], [1, 2], [3, 4], [20, 30], [10, 10]], [[1, 4], [8, 10], [20, 30]]],
  ])('merges %j into %j', (input, expected) => {
    expect(mergeRanges(ranges(input))).toEqual(ranges(expected));
  });

  it('turns overlapping CIDRs into disjoint intervals without mutating the input', () => {
    const input = ['10.0.0.0/8', '10.1.0.0/16', '11.0.0.0/8', '192.0.2.0/24'].map((t) => cidrRange(cidr(t)));
    const copy = structuredClone(input);
    expect(mergeRanges(input)).toEqual([
      { first: 0x0a000000n, last: 0x0bffffffn },
      { first: 0xc0000200n, last: 0xc00002ffn },
    ]);
    expect(input).toEqual(copy);
  });

  it('rejects reversed ranges', () => {
    expect(() => mergeRanges([r(5, 1)])).toThrow(/reversed/);
  });
});
