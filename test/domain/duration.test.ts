import { describe, expect, it } from 'vitest';
import { addIsoDuration, maxExpiryYears, parseUtcDateTime } from '../../src/domain/duration.js';

const at = (iso: string) => Date.parse(iso);
const start = at('2024-01-31T10:00:00.000Z');

describe('addIsoDuration', () => {
  it.each([
    ['PT4H', '2024-01-31T14:00:00.000Z'],
    ['pt4h', '2024-01-31T14:00:00.000Z'],
    ['PT30M', '2024-01-31T10:30:00.000Z'],
    ['PT90S', '2024-01-31T10:01:30.000Z'],
    ['PT0.5S', '2024-01-31T10:00:00.500Z'],
    ['PT1,25S', '2024-01-31T10:00:01.250Z'],
    ['PT0.0015S', '2024-01-31T10:00:00.002Z'],
    ['P1D', '2024-02-01T10:00:00.000Z'],
    ['P2W', '2024-02-14T10:00:00.000Z'],
    ['P1DT12H', '2024-02-01T22:00:00.000Z'],
    ['P1M', '2024-02-29T10:00:00.000Z'], // clamped to the end of a leap February
    ['P13M', '2025-02-28T10:00:00.000Z'],
    ['P1Y', '2025-01-31T10:00:00.000Z'],
    ['P1Y1M1W1DT1H1M1S', '2025-03-08T11:01:01.000Z'],
    ['PT48H', '2024-02-02T10:00:00.000Z'],
    ['P10Y', '2034-01-31T10:00:00.000Z'], // exactly the limit
    ['P3650D', '2034-01-28T10:00:00.000Z'],
  ])('%s from 2024-01-31T10:00Z → %s', (duration, expected) => {
    expect(addIsoDuration(start, duration)).toBe(at(expected));
  });

  it('clamps from a leap day', () => {
    expect(addIsoDuration(at('2024-02-29T00:00:00Z'), 'P1Y')).toBe(at('2025-02-28T00:00:00Z'));
    expect(addIsoDuration(at('2024-02-29T00:00:00Z'), 'P4Y')).toBe(at('2028-02-29T00:00:00Z'));
  });

  it.each([
    '',
    'P',
    'PT',
    'p',
    'P1DT', // T without a time component
    'P0D',
    'PT0S',
    'PT0.0001S', // rounds to zero
    '-P1D',
    'P-1D',
    '+P1D',
    'P1.5D', // only seconds may be fractional
    'PT1.5H',
    'PT.5S',
    'PT1.S',
    '4H',
    'T4H',
    'P4H',
    'PT4D',
    'P1S',
    'P1M1Y', // out of order
    'PT1H1H',
    ' PT4H',
    'PT4H ',
    'P10Y1D', // beyond the limit
    'P3654D',
    'PT87700H',
    'P11Y',
    `P${'9'.repeat(400)}D`,
    'P99999999999999999999Y',
    `PT${'1'.repeat(70)}S`,
  ])('rejects %j', (duration) => {
    expect(addIsoDuration(start, duration)).toBeUndefined();
  });

  it('exposes the limit it enforces', () => {
    expect(maxExpiryYears).toBe(10);
  });

  it('rejects a start that is not a time', () => {
    expect(addIsoDuration(Number.NaN, 'PT1H')).toBeUndefined();
  });
});

describe('parseUtcDateTime', () => {
  it.each([
    ['2030-01-01T00:00:00Z', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01t00:00:00z', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T00:00Z', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T02:00:00+02:00', '2030-01-01T00:00:00.000Z'],
    ['2029-12-31T19:30:00-04:30', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T00:00:00-00:00', '2030-01-01T00:00:00.000Z'],
    ['2030-01-01T00:00:00.5Z', '2030-01-01T00:00:00.500Z'],
    ['2030-01-01T00:00:00.1234567Z', '2030-01-01T00:00:00.123Z'], // Graph sends 7 digits
    ['2030-01-01T00:00:00.999999999Z', '2030-01-01T00:00:00.999Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['2030-06-30T23:59:59+14:00', '2030-06-30T09:59:59.000Z'],
  ])('%s → %s', (input, expected) => {
    expect(parseUtcDateTime(input)).toBe(at(expected));
  });

  it('handles years before 100 without Date.UTC’s 1900 offset', () => {
    expect(new Date(parseUtcDateTime('0050-03-01T00:00:00Z') ?? 0).toISOString()).toBe('0050-03-01T00:00:00.000Z');
  });

  it.each([
    '',
    '2030-01-01',
    '2030-01-01T00:00:00',
    '2019-01-10 12:23:23.33333',
    '2030-01-01 00:00:00Z',
    '2030-01-01T00:00:00+0200',
    '2030-01-01T00:00:00+02',
    '2030-01-01T00:00:00 Z',
    ' 2030-01-01T00:00:00Z',
    '2030-13-01T00:00:00Z',
    '2030-00-01T00:00:00Z',
    '2030-02-29T00:00:00Z',
    '2030-04-31T00:00:00Z',
    '2030-01-00T00:00:00Z',
    '2030-01-01T24:00:00Z',
    '2030-01-01T23:60:00Z',
    '2030-01-01T23:59:60Z',
    '2030-01-01T00:00:00+24:00',
    '2030-01-01T00:00:00+02:60',
    '2030-01-01T00:00:00.Z',
    '2030-01-01T00:00:00.1234567890Z',
    '30-01-01T00:00:00Z',
    '+002030-01-01T00:00:00Z',
    '2030-1-1T0:0:0Z',
    '1893456000000',
    'tomorrow',
  ])('rejects %j', (input) => {
    expect(parseUtcDateTime(input)).toBeUndefined();
  });
});
