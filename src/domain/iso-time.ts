/**
 * `new Date(ms).toISOString()`, faster: list responses format several timestamps per action and
 * `toISOString` showed up as 15% of the service's CPU. The date part of the last day seen is
 * cached; other days are computed with civil-from-days arithmetic (H. Hinnant's algorithm), not a
 * Date, since a page of actions spans many days. Valid for years 0000–9999 (as toISOString is
 * without a sign).
 */
let cachedDay = Number.NaN;
let cachedPrefix = '';
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
const msPerDay = 86_400_000;

export function isoUtc(ms: number): string {
  const day = Math.floor(ms / msPerDay);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedPrefix = datePrefix(day);
  }
  let rest = ms - day * msPerDay;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  return `${cachedPrefix}${pad2(h)}:${pad2(m)}:${pad2(s)}.${pad3(rest - s * 1000)}Z`;
}

/** `YYYY-MM-DDT` of a day counted from 1970-01-01 (proleptic Gregorian calendar). */
function datePrefix(day: number): string {
  const z = day + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const yyyy = y < 10 ? `000${y}` : y < 100 ? `00${y}` : y < 1000 ? `0${y}` : `${y}`;
  return `${yyyy}-${pad2(m)}-${pad2(d)}T`;
}
