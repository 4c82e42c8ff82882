import { describe, expect, it } from 'vitest';
import { cidrRange, mergeRanges, parseIpOrCidr, type IpFamily } from '../../src/domain/indicators/ip.js';
import { toElements, type NftElement } from '../../src/agent/segments.js';
import { rangeText } from '../../src/agent/nft-render.js';
import { seededRandom } from './prng.js';

const now = 1_700_000_000_000;
const entry = (value: string, expiresAt: number | null = null) => ({ cidr: parseIpOrCidr(value)!, expiresAt });
const text = (els: NftElement[]) => els.map((e) => `${rangeText(e.family, e.first, e.last)}${e.expiresAt === null ? '' : ` @${e.expiresAt - now}`}`);

describe('toElements: possibly overlapping entries → disjoint interval-set elements', () => {
  it('keeps disjoint single addresses and ranges as they are, sorted', () => {
    expect(text(toElements([entry('203.0.113.7'), entry('10.0.0.0/24'), entry('2001:db8::/32')], now))).toEqual(['10.0.0.0/24', '203.0.113.7', '2001:db8::/32']);
  });

  it('a /32 inside a /24 (both permanent) is one element: the /24', () => {
    expect(text(toElements([entry('10.0.0.0/24'), entry('10.0.0.5')], now))).toEqual(['10.0.0.0/24']);
  });

  it('nested with a later-expiring inner entry: the inner address keeps its own, later timeout', () => {
    expect(text(toElements([entry('10.0.0.0/24', now + 1000), entry('10.0.0.5', now + 5000)], now))).toEqual([
      '10.0.0.0-10.0.0.4 @1000',
      '10.0.0.5 @5000',
      '10.0.0.6-10.0.0.255 @1000',
    ]);
  });

  it('a permanent member makes every address it covers permanent; the rest keeps its expiry', () => {
    expect(text(toElements([entry('10.0.0.0/24', now + 1000), entry('10.0.0.8/29')], now))).toEqual(['10.0.0.0/29 @1000', '10.0.0.8/29', '10.0.0.16-10.0.0.255 @1000']);
    expect(text(toElements([entry('10.0.0.0/24'), entry('10.0.0.8/29', now + 1000)], now))).toEqual(['10.0.0.0/24']);
  });

  it('adjacent ranges with the same expiry are joined; with different expiries they stay apart', () => {
    expect(text(toElements([entry('10.0.0.0/25'), entry('10.0.0.128/25')], now))).toEqual(['10.0.0.0/24']);
    expect(text(toElements([entry('10.0.0.0/25', now + 10), entry('10.0.0.128/25', now + 20)], now))).toEqual(['10.0.0.0/25 @10', '10.0.0.128/25 @20']);
  });

  it('the same range twice keeps the later expiry (upserts are the caller\'s job, overlaps are ours)', () => {
    expect(text(toElements([entry('198.51.100.0/24', now + 10), entry('198.51.100.0/24', now + 30)], now))).toEqual(['198.51.100.0/24 @30']);
  });

  it('leaves out entries that already expired', () => {
    expect(text(toElements([entry('10.0.0.1', now), entry('10.0.0.2', now - 5), entry('10.0.0.3', now + 1)], now))).toEqual(['10.0.0.3 @1']);
  });

  it('handles IPv6 nesting and the edges of the address space', () => {
    expect(text(toElements([entry('2001:db8::/32'), entry('2001:db8:1::/48', now + 100), entry('2001:db9::1')], now))).toEqual(['2001:db8::/32', '2001:db9::1']);
    expect(text(toElements([entry('0.0.0.0/0'), entry('255.255.255.255', now + 1)], now))).toEqual(['0.0.0.0/0']);
    expect(text(toElements([entry('::/0', now + 5), entry('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')], now))).toEqual([
      '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe @5',
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ]);
  });

  it('random overlapping sets: elements are disjoint, cover exactly mergeRanges(entries), and each address carries the latest covering expiry', () => {
    const rnd = seededRandom(42);
    for (let round = 0; round < 200; round++) {
      const entries = Array.from({ length: 1 + rnd(12) }, () => {
        const prefix = 24 + rnd(9);
        const expiry = rnd(4) === 0 ? null : now + 1 + rnd(3) * 1000;
        return entry(`10.0.${rnd(2)}.${rnd(256)}/${prefix}`, expiry);
      });
      const els = toElements(entries, now);
      for (let i = 1; i < els.length; i++) expect(els[i]!.first).toBeGreaterThan(els[i - 1]!.last);
      const expected = mergeRanges(entries.map((e) => cidrRange(e.cidr)));
      expect(mergeRanges(els.map((e) => ({ first: e.first, last: e.last })))).toEqual(expected);
      for (const el of els) {
        for (const at of [el.first, el.last, (el.first + el.last) / 2n]) {
          const covering = entries.filter((e) => cidrRange(e.cidr).first <= at && at <= cidrRange(e.cidr).last).map((e) => e.expiresAt);
          const want = covering.includes(null) ? null : Math.max(...(covering as number[]));
          expect(el.expiresAt).toBe(want);
        }
      }
    }
  });

  it('is fast for a /8 with 100,000 /32s inside (sweep, not quadratic)', () => {
    const entries: { cidr: { family: IpFamily; network: bigint; prefix: number }; expiresAt: number | null }[] = [entry('10.0.0.0/8', now + 60_000)];
    for (let i = 0; i < 100_000; i++) entries.push({ cidr: { family: 4, network: 0x0a000000n + BigInt(i * 7), prefix: 32 }, expiresAt: i % 2 ? null : now + 1000 });
    const t = performance.now();
    const els = toElements(entries, now);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(els.filter((e) => e.expiresAt === null)).toHaveLength(50_000);
  });
});
