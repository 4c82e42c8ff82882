import { describe, expect, it } from 'vitest';
import { parseChangeBatch, ProtocolError } from '../../src/agent/change-batch.js';
import { BlockState } from '../../src/agent/block-state.js';

describe('parseChangeBatch', () => {
  it('parses a snapshot with IPv4, IPv6, CIDR and expiries; keys are canonical', () => {
    const b = parseChangeBatch({
      cursor: 7, snapshot: true, more: false, removed: [],
      added: [
        { type: 'ip', value: '10.0.0.0/24', expirationDateTime: null },
        { type: 'ip', value: '203.0.113.7', expirationDateTime: '2030-01-01T00:00:00.000Z' },
        { type: 'ip', value: '2001:DB8::/32', expirationDateTime: null },
        { type: 'domain', value: 'evil.example', expirationDateTime: null },
      ],
    });
    expect(b).toMatchObject({ cursor: 7, snapshot: true, more: false, removed: [], invalid: [] });
    expect(b.added.map((a) => [a.key, a.expiresAt])).toEqual([['10.0.0.0/24', null], ['203.0.113.7', Date.parse('2030-01-01T00:00:00Z')], ['2001:db8::/32', null]]);
  });

  it('reports unparseable values instead of applying or crashing on them', () => {
    const b = parseChangeBatch({ cursor: 1, snapshot: false, more: true, added: [{ type: 'ip', value: '300.1.1.1', expirationDateTime: null }, { type: 'ip', value: '10.0.0.1', expirationDateTime: 'soon' }], removed: [{ type: 'ip', value: 'nope' }, { type: 'ip', value: '10.0.0.9' }] });
    expect(b.added).toEqual([]);
    expect(b.removed.map((r) => r.key)).toEqual(['10.0.0.9']);
    expect(b.invalid).toEqual(['300.1.1.1', '10.0.0.1', 'nope']);
    expect(b.more).toBe(true);
  });

  it('rejects malformed bodies', () => {
    for (const bad of [null, [], {}, { cursor: -1, added: [], removed: [] }, { cursor: 1, added: {}, removed: [] }, { cursor: 1, added: [1], removed: [] }, { cursor: 1.5, added: [], removed: [] }]) {
      expect(() => parseChangeBatch(bad)).toThrow(ProtocolError);
    }
  });
});

describe('BlockState', () => {
  const batch = (json: unknown) => parseChangeBatch(json);
  it('upserts, removes and replaces on snapshot; overlapping entries stay separate', () => {
    const s = new BlockState();
    s.apply(batch({ cursor: 1, snapshot: true, added: [{ type: 'ip', value: '10.0.0.0/29', expirationDateTime: null }, { type: 'ip', value: '10.0.0.1', expirationDateTime: null }], removed: [] }));
    expect(s.size).toBe(2);
    s.apply(batch({ cursor: 2, snapshot: false, added: [{ type: 'ip', value: '10.0.0.1', expirationDateTime: '2030-01-01T00:00:00Z' }], removed: [{ type: 'ip', value: '10.0.0.0/29' }] }));
    expect([...s.values()].map((e) => [e.key, e.expiresAt])).toEqual([['10.0.0.1', Date.parse('2030-01-01T00:00:00Z')]]);
    s.apply(batch({ cursor: 3, snapshot: false, added: [], removed: [{ type: 'ip', value: '198.51.100.1' }] }));
    expect(s.size).toBe(1); // removing something unknown is a no-op
    s.apply(batch({ cursor: 9, snapshot: true, added: [{ type: 'ip', value: '2001:db8::1', expirationDateTime: null }], removed: [] }));
    expect([...s.values()].map((e) => e.key)).toEqual(['2001:db8::1']);
  });
});
