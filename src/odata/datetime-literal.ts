/**
 * `Edm.DateTimeOffset` literals (reference §5.7, OData ABNF `dateTimeOffsetValue`): ISO 8601 with a
 * mandatory zone, e.g. `2024-01-01T00:00:00Z`, `2024-01-01T08:30:00.5+08:30`. Converted to epoch
 * milliseconds, the unit storage uses; digits beyond milliseconds are truncated.
 */

// Sticky and free of nested quantifiers, so matching is linear in the input. The ` hh:mm` zone
// accepts an unencoded `+` that URL form-decoding turned into a space: after a time of day nothing
// else in the grammar can start with two digits and a colon, so the reading is unambiguous.
const dateTimePattern =
  /(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?(Z|[+-]\d{2}:\d{2}| \d{2}:\d{2})?/iy;
const dateOnlyPattern = /\d{4}-\d{2}-\d{2}(?![\dT])/iy;

/** A DateTimeOffset-shaped run of characters found by {@link matchDateTimeOffset}. */
export interface DateTimeMatch {
  /** Index just past the match. */
  end: number;
  /** Epoch milliseconds, or `undefined` when the shape is right but the date or zone is impossible. */
  epochMs: number | undefined;
  /** False when no `Z`/`±hh:mm` follows the time: OData requires one. */
  hasZone: boolean;
}

/** Matches a DateTimeOffset starting exactly at `start`; `undefined` when the text there is not one. */
export function matchDateTimeOffset(text: string, start: number): DateTimeMatch | undefined {
  dateTimePattern.lastIndex = start;
  const m = dateTimePattern.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const epochMs = toEpochMs(
    Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s ?? '0'), frac ?? '', zone,
  );
  return { end: start + m[0].length, epochMs, hasZone: zone !== undefined };
}

/** True when a bare date such as `2024-01-01` (not supported: no time, no zone) starts at `start`. */
export function isDateOnlyAt(text: string, start: number): boolean {
  dateOnlyPattern.lastIndex = start;
  return dateOnlyPattern.test(text);
}

/** Parses a whole string as a DateTimeOffset (used for quoted dates); `undefined` if it is not one. */
export function parseDateTimeOffset(text: string): number | undefined {
  const m = matchDateTimeOffset(text, 0);
  return m && m.end === text.length && m.hasZone ? m.epochMs : undefined;
}

function toEpochMs(
  year: number, month: number, day: number, hour: number, minute: number, second: number,
  fraction: string, zone: string | undefined,
): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const millis = Number(fraction.padEnd(3, '0').slice(0, 3));
  // setUTCFullYear rather than Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime() - offsetMinutes * 60_000;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
