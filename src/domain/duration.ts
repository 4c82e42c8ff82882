/**
 * ISO 8601 durations and date-times for action expiry. Times are epoch milliseconds; calendar
 * arithmetic is UTC, where every day has 86,400 s, so only years and months need a calendar.
 */

/** How far ahead an expiry may lie; further is almost always a typo (`P100Y` for `P100D`). */
export const maxExpiryYears = 10;

const msPerDay = 86_400_000;
const durationPattern =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:[.,](\d+))?S)?)?$/i;
const dateTimePattern =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$/i;

/**
 * Adds an ISO 8601 duration (`PnYnMnWnDTnHnMnS`, case-insensitive, fractional seconds allowed,
 * e.g. `PT4H`, `P1Y2M`, `PT0.5S`) to `startMs`. Years and months move the calendar date and clamp
 * to the month's last day (Jan 31 + `P1M` → Feb 28/29), as java.time and Temporal do.
 * @returns the end in epoch ms, or `undefined` when the text is not a duration, has no component
 *   (`P`, `PT`, `P1DT`), is zero, or ends more than {@link maxExpiryYears} years after `startMs`.
 *   Signs are not part of the grammar, so negative durations are rejected too.
 * @see ISO 8601-1:2019 §5.5.2
 */
export function addIsoDuration(startMs: number, text: string): number | undefined {
  if (!Number.isFinite(startMs) || text.length > 64) return undefined;
  const match = durationPattern.exec(text);
  if (!match) return undefined;
  const [years, months, weeks, days, hours, minutes, seconds, fraction] = match.slice(1);
  const hasTime = hours !== undefined || minutes !== undefined || seconds !== undefined;
  if (/t/i.test(text) ? !hasTime : [years, months, weeks, days].every((c) => c === undefined)) return undefined;
  const n = (component: string | undefined) => (component === undefined ? 0 : Number(component));
  const end =
    addCalendarMonths(startMs, n(years) * 12 + n(months)) +
    (n(weeks) * 7 + n(days)) * msPerDay +
    n(hours) * 3_600_000 +
    n(minutes) * 60_000 +
    n(seconds) * 1000 +
    (fraction === undefined ? 0 : Math.round(Number(`0.${fraction}`) * 1000));
  const limit = addCalendarMonths(startMs, maxExpiryYears * 12);
  return Number.isFinite(end) && end > startMs && end <= limit ? end : undefined;
}

/**
 * Parses an ISO 8601 / RFC 3339 date-time with `Z` or a `±hh:mm` offset, e.g.
 * `2030-01-01T00:00:00Z`, `2030-01-01T02:00:00.1234567+02:00` (fractions beyond milliseconds are
 * truncated). Rejects bare dates, missing zones and the space-separated form of Graph's own
 * examples (`2019-01-10 12:23:23.33333`), whose zone is unknowable.
 * @returns epoch ms, or `undefined`.
 */
export function parseUtcDateTime(text: string): number | undefined {
  const m = dateTimePattern.exec(text);
  if (!m) return undefined;
  const field = (i: number) => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second] = [field(1), field(2), field(3), field(4), field(5), field(6)];
  const [fraction = '', zulu, sign, offsetHour, offsetMinute] = m.slice(7);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month - 1)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zulu === undefined) {
    const [oh, om] = [Number(offsetHour), Number(offsetMinute)];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const ms = date.getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** Moves the UTC calendar date by whole months, clamping the day, keeping the time of day. */
function addCalendarMonths(startMs: number, months: number): number {
  if (months === 0) return startMs;
  const date = new Date(startMs);
  const total = date.getUTCMonth() + months;
  const year = date.getUTCFullYear() + Math.floor(total / 12);
  const month = total - Math.floor(total / 12) * 12;
  date.setUTCFullYear(year, month, Math.min(date.getUTCDate(), daysInMonth(year, month)));
  return date.getTime();
}

/** Days in a month (`month` 0-based), valid for every year including 0–99. */
function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month + 1, 0);
  return date.getUTCDate();
}
