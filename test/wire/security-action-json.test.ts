import { describe, expect, it } from 'vitest';
import { isoUtc } from '../../src/domain/iso-time.js';
import type { SecurityAction } from '../../src/domain/security-action.js';
import { securityActionJsonText, securityActionToJson } from '../../src/http/wire/security-action-json.js';
import { actionFields, actionToRow, rowToAction, type ActionSelection } from '../../src/storage/sql/action-rows.js';

const base: SecurityAction = {
  tenantId: 't-1', id: '6f1c2d3e-0000-4000-8000-000000000001', name: 'BlockUrl', actionReason: 'quote " backslash \\ newline \n and ü',
  appId: 'app', user: null, clientContext: 'ctx', status: 'Failed',
  parameters: [{ name: 'Url', value: 'https://evil.example/a?b="c"' }, { name: 'Duration', value: 'PT4H' }],
  indicator: { type: 'url', value: 'https://evil.example/a?b="c"' },
  vendorInformation: { provider: 'soar', vendor: 'Acme', subProvider: null, providerVersion: '2' },
  errorInfo: { code: 422, subcode: 0, message: 'rejected' },
  createdAt: 1_732_000_000_123, lastActionAt: 1_732_000_001_000, completedAt: 1_732_000_001_000, cancelledAt: null, expiresAt: 1_732_014_400_123,
  states: [
    { appId: 'app', status: 'NotStarted', updatedAt: 1_732_000_000_123, user: null, reason: 'created' },
    { appId: null, status: 'Failed', updatedAt: 1_732_000_001_000, user: null, reason: 'soar: rejected' },
  ],
  extra: { ticket: { id: 7, tags: ['a', 'b'] }, note: null },
};

/** What storage hands back for `a`: the row written, read back. */
const roundTrip = (a: SecurityAction) => rowToAction({ ...(actionToRow(a) as ActionSelection), seq: 1 });

describe('securityActionJsonText', () => {
  it('is the same JSON as the object serializer, for an action built in memory', () => {
    expect(JSON.parse(securityActionJsonText(base))).toEqual(JSON.parse(JSON.stringify(securityActionToJson(base))));
  });

  it('splices stored JSON and still equals the object serializer, for an action read from storage', () => {
    const read = roundTrip(base);
    expect(read.stored).toBeDefined();
    expect(JSON.parse(securityActionJsonText(read))).toEqual(JSON.parse(JSON.stringify(securityActionToJson(base))));
  });

  it('handles no extras, no error and the context prefix', () => {
    const plain = roundTrip({ ...base, errorInfo: null, extra: {}, status: 'NotStarted', completedAt: null });
    const parsed = JSON.parse(securityActionJsonText(plain, '"@odata.context":"x",'));
    expect(parsed['@odata.context']).toBe('x');
    expect(parsed.errorInfo).toBeNull();
    expect(Object.keys(parsed)).not.toContain('ticket');
  });

  it('serialises a changed field, not the stored text it replaced', () => {
    const read = roundTrip(base);
    read.states = [...read.states, { appId: null, status: 'Completed', updatedAt: 1_732_000_002_000, user: null, reason: 'later' }];
    read.extra = { note: 'changed' };
    expect(read.stored).toBeUndefined();
    const parsed = JSON.parse(securityActionJsonText(read));
    expect(parsed.states.map((s: { reason: string }) => s.reason)).toEqual(['created', 'soar: rejected', 'later']);
    expect(parsed.note).toBe('changed');
    expect(parsed.ticket).toBeUndefined();
  });

  it('copies and stringifies every field of an action read from storage', () => {
    const read = roundTrip(base);
    expect(actionFields(read)).toEqual(base);
    expect(JSON.parse(JSON.stringify(read))).toEqual(JSON.parse(JSON.stringify(base)));
  });

  it('reads lazily parsed fields back exactly', () => {
    const read = roundTrip(base);
    expect(read.parameters).toEqual(base.parameters);
    expect(read.states).toEqual(base.states);
    expect(read.errorInfo).toEqual(base.errorInfo);
    expect(read.extra).toEqual(base.extra);
  });
});

describe('isoUtc', () => {
  it('matches Date.prototype.toISOString', () => {
    const samples = [0, 1, 999, 86_399_999, 86_400_000, 951_782_400_000, 1_732_000_000_123, 253_402_300_799_999];
    for (let i = 0; i < 5000; i++) samples.push(Math.floor(Math.random() * 253_402_300_799_999));
    for (const ms of samples) expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
  });

  it('matches it on every day from 1895 to 2105, in the order a page of old and new actions has them', () => {
    // Alternating far-apart days defeats the one-day cache, so each date is computed.
    for (let day = -27_000; day <= 49_700; day++) {
      for (const ms of [day * 86_400_000 + 45_296_789, (49_700 - (day + 27_000)) * 86_400_000]) {
        const expected = new Date(ms).toISOString();
        if (isoUtc(ms) !== expected) expect(isoUtc(ms)).toBe(expected);
      }
    }
  });
});
