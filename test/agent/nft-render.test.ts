import { describe, expect, it } from 'vitest';
import { parseIpOrCidr } from '../../src/domain/indicators/ip.js';
import { elementText, rangeText, renderCleanup, renderDiff, renderRebuild, tableNamePattern, type TableSpec } from '../../src/agent/nft-render.js';
import { toElements, type NftElement } from '../../src/agent/segments.js';
import type { AppliedElement } from '../../src/agent/element-diff.js';

const now = 1_700_000_000_000;
const spec: TableSpec = { table: 'bulwark', host: true, forward: true };
const el = (value: string, expiresAt: number | null = null): NftElement => toElements([{ cidr: parseIpOrCidr(value)!, expiresAt }], now - 1)[0]!;
const applied = (value: string, expiresAt: number | null = null): AppliedElement => ({ ...el(value, expiresAt), goneBy: null });

describe('nft rendering', () => {
  it('renders single addresses, exact CIDRs and arbitrary ranges (IPv4 and IPv6)', () => {
    expect(rangeText(4, 0x0a000001n, 0x0a000001n)).toBe('10.0.0.1');
    expect(rangeText(4, 0x0a000000n, 0x0a0000ffn)).toBe('10.0.0.0/24');
    expect(rangeText(4, 0x0a000003n, 0x0a000009n)).toBe('10.0.0.3-10.0.0.9');
    expect(rangeText(4, 0x0a000008n, 0x0a00000fn)).toBe('10.0.0.8/29');
    expect(rangeText(4, 0x0a000004n, 0x0a00000bn)).toBe('10.0.0.4-10.0.0.11'); // size 8 but not aligned
    expect(rangeText(4, 0n, 0xffffffffn)).toBe('0.0.0.0/0');
    expect(rangeText(6, 0x20010db8n << 96n, ((0x20010db8n << 96n) | ((1n << 96n) - 1n)))).toBe('2001:db8::/32');
    expect(rangeText(6, 1n, 5n)).toBe('::1-::5');
  });

  it('renders the remaining lifetime as a timeout in ms, never 0 (nft reads `timeout 0ms` as "no timeout")', () => {
    expect(elementText(el('10.0.0.1', now + 3000), now)).toBe('10.0.0.1 timeout 3000ms');
    expect(elementText(el('10.0.0.1', now + 1), now + 0.5)).toBe('10.0.0.1 timeout 1ms');
    expect(elementText(el('10.0.0.1', now + 10), now + 50)).toBe('10.0.0.1 timeout 1ms');
    expect(elementText(el('10.0.0.0/24'), now)).toBe('10.0.0.0/24');
    expect(elementText(el('10.0.0.1', now + 3000))).toBe('10.0.0.1'); // deletes carry no timeout
  });

  it('a rebuild replaces only our table, atomically, with interval+timeout sets and drop rules', () => {
    const script = renderRebuild(spec, [el('10.0.0.0/24'), el('203.0.113.7', now + 60_000), el('2001:db8::/32')], now);
    expect(script.split('\n').slice(0, 3)).toEqual(['table inet bulwark {}', 'delete table inet bulwark', 'table inet bulwark {']);
    expect(script).toContain('set blocked4 { type ipv4_addr; flags interval, timeout; }');
    expect(script).toContain('set blocked6 { type ipv6_addr; flags interval, timeout; }');
    expect(script).toContain('chain input { type filter hook input priority filter - 10; policy accept; ip saddr @blocked4 counter drop; ip6 saddr @blocked6 counter drop; }');
    expect(script).toContain('chain output { type filter hook output priority filter - 10; policy accept; ip daddr @blocked4 counter drop; ip6 daddr @blocked6 counter drop; }');
    expect(script).toMatch(/chain forward \{ type filter hook forward .*ip saddr @blocked4 counter drop; ip6 saddr @blocked6 counter drop; ip daddr @blocked4 counter drop; ip6 daddr @blocked6 counter drop; \}/);
    expect(script).toContain('add element inet bulwark blocked4 { 10.0.0.0/24, 203.0.113.7 timeout 60000ms }');
    expect(script).toContain('add element inet bulwark blocked6 { 2001:db8::/32 }');
    expect(script).not.toMatch(/flush ruleset|table ip /);
  });

  it('exempts the server\'s addresses from this host\'s drops (input/output only), so a block can never cut the agent off', () => {
    const script = renderRebuild({ ...spec, exempt: [parseIpOrCidr('192.0.2.10')!, parseIpOrCidr('2001:db8::10')!] }, [], now);
    expect(script).toContain('chain input { type filter hook input priority filter - 10; policy accept; ip saddr { 192.0.2.10 } accept; ip6 saddr { 2001:db8::10 } accept; ip saddr @blocked4 counter drop;');
    expect(script).toContain('chain output { type filter hook output priority filter - 10; policy accept; ip daddr { 192.0.2.10 } accept; ip6 daddr { 2001:db8::10 } accept; ip daddr @blocked4 counter drop;');
    expect(script).toMatch(/chain forward \{ type filter hook forward priority filter - 10; policy accept; ip saddr @blocked4/);
  });

  it('hooks: input-only omits forward; forward-only omits input/output', () => {
    expect(renderRebuild({ ...spec, forward: false }, [], now)).not.toContain('hook forward');
    const fwd = renderRebuild({ ...spec, host: false }, [], now);
    expect(fwd).toContain('hook forward');
    expect(fwd).not.toMatch(/hook (input|output)/);
    expect(renderRebuild(spec, [], now)).not.toContain('add element');
  });

  it('a diff deletes before it adds, and removes maybe-expired elements with add+delete', () => {
    const script = renderDiff(spec, { remove: [applied('10.0.0.0/24')], removeIfPresent: [applied('10.1.0.1', now + 10)], add: [el('10.0.0.0/25'), el('2001:db8::1', now + 500)] }, now);
    expect(script.trim().split('\n')).toEqual([
      'add element inet bulwark blocked4 { 10.1.0.1 }',
      'delete element inet bulwark blocked4 { 10.1.0.1, 10.0.0.0/24 }',
      'add element inet bulwark blocked4 { 10.0.0.0/25 }',
      'add element inet bulwark blocked6 { 2001:db8::1 timeout 500ms }',
    ]);
    expect(renderDiff(spec, { remove: [], removeIfPresent: [], add: [] }, now)).toBe('');
  });

  it('chunks large batches into statements of at most 500 elements', () => {
    const many = Array.from({ length: 1201 }, (_, i) => el(`10.${i >> 8}.${i & 255}.1`));
    const lines = renderDiff(spec, { remove: [], removeIfPresent: [], add: many }, now).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l.split(',').length)).toEqual([500, 500, 201]);
  });

  it('cleanup removes our table whether or not it exists, and nothing else', () => {
    expect(renderCleanup(spec)).toBe('table inet bulwark {}\ndelete table inet bulwark\n');
  });

  it('accepts only plain identifiers as table names', () => {
    for (const ok of ['bulwark', 'bw_edge2', 'B']) expect(tableNamePattern.test(ok)).toBe(true);
    for (const bad of ['', '1x', 'a b', 'x;flush ruleset', 'a-b', 'x'.repeat(33)]) expect(tableNamePattern.test(bad)).toBe(false);
  });
});
