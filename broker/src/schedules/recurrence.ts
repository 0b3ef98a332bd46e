/**
 * Recurrence of a schedule, in the timezone of its area: daily, weekly on chosen days,
 * monthly on a day of the month, or a cron expression for power users; with valid-from /
 * valid-to dates and skipped dates. Occurrences come from croner (decision 0007). A month
 * without the chosen day (the 31st, 29 February) simply has no occurrence, as in cron.
 */
import { Cron } from 'croner';
import { brokerError } from '../errors.js';

export type Recurrence =
  | { type: 'daily'; time: string; validFrom?: string; validTo?: string; skipDates?: string[] }
  | { type: 'weekly'; time: string; days: number[]; validFrom?: string; validTo?: string; skipDates?: string[] }
  | { type: 'monthly'; time: string; dayOfMonth: number; validFrom?: string; validTo?: string; skipDates?: string[] }
  | { type: 'cron'; cron: string; validFrom?: string; validTo?: string; skipDates?: string[] };

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Never expand more than this many occurrences in one window (a cron of every minute over 48 h is 2,880). */
export const MAX_OCCURRENCES = 5000;

function invalid(en: string, vi: string): never {
  throw brokerError('LOA_ERR_INVALID', { en: `recurrence: ${en}`, vi: `lịch lặp: ${vi}` });
}

/** The 5-field cron pattern (minute hour day month weekday) for a recurrence. */
export function cronPattern(r: Recurrence): string {
  if (r.type === 'cron') return r.cron.trim();
  const m = TIME.exec(r.time);
  if (!m) invalid(`time must be HH:MM, got "${r.time}"`, `giờ phải có dạng HH:MM, nhận được "${r.time}"`);
  const [hh, mm] = [Number(m[1]), Number(m[2])];
  if (r.type === 'daily') return `${mm} ${hh} * * *`;
  if (r.type === 'weekly') {
    // ISO weekdays (1 = Monday … 7 = Sunday), as Vietnamese calendars count; cron takes 0–6 from Sunday.
    if (r.days.length === 0 || r.days.some((d) => !Number.isInteger(d) || d < 1 || d > 7)) invalid('days must be 1 (Monday) … 7 (Sunday)', 'ngày trong tuần phải từ 1 (thứ Hai) đến 7 (Chủ nhật)');
    return `${mm} ${hh} * * ${[...new Set(r.days.map((d) => d % 7))].sort().join(',')}`;
  }
  if (!Number.isInteger(r.dayOfMonth) || r.dayOfMonth < 1 || r.dayOfMonth > 31) invalid('dayOfMonth must be 1 … 31', 'ngày trong tháng phải từ 1 đến 31');
  return `${mm} ${hh} ${r.dayOfMonth} * *`;
}

/** A formatter for `timeZone`, made once per timezone and kept in `cache`. */
function formatterIn(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, make: (timeZone: string) => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let format = cache.get(timeZone);
  if (!format) {
    format = make(timeZone);
    cache.set(timeZone, format);
  }
  return format;
}

/** The calendar date of an instant in a timezone, as YYYY-MM-DD. */
export function localDate(instant: Date, timeZone: string): string {
  return formatterIn(dayFormats, timeZone, (tz) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })).format(instant);
}

/** The wall-clock time of an instant in a timezone, as HH:MM. */
export function localTime(instant: Date, timeZone: string): string {
  return formatterIn(timeFormats, timeZone, (tz) => new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })).format(instant);
}

/** The instant (ms) a local date (YYYY-MM-DD) begins in a timezone: its local midnight. */
export function startOfLocalDay(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d);
  // The offset at the guess, then again at the instant found: right across a daylight-saving change.
  const first = guess - offsetMinutes(timeZone, guess) * 60_000;
  return guess - offsetMinutes(timeZone, first) * 60_000;
}

/** Minutes east of UTC of a timezone at an instant, e.g. 420 for Asia/Ho_Chi_Minh. */
function offsetMinutes(timeZone: string, at: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/**
 * croner's options for a timezone. A zone without daylight saving (Vietnam's) is given as its
 * fixed offset, which croner steps through about fifteen times faster than a named zone.
 */
function zoneOption(timeZone: string): { timezone: string } | { utcOffset: number } {
  let option = zoneOptions.get(timeZone);
  if (!option) {
    const now = Date.now(); // the real year: whether this zone shifts for daylight saving, not a schedule's time
    const offsets = new Set([0, 91, 182, 273, 365].map((days) => offsetMinutes(timeZone, now + days * 86_400_000)));
    option = offsets.size === 1 ? { utcOffset: [...offsets][0]! } : { timezone: timeZone };
    zoneOptions.set(timeZone, option);
  }
  return option;
}
const zoneOptions = new Map<string, { timezone: string } | { utcOffset: number }>();

/** Making a formatter costs far more than using one: one per timezone. */
const dayFormats = new Map<string, Intl.DateTimeFormat>();
const timeFormats = new Map<string, Intl.DateTimeFormat>();

/** Checks a recurrence and throws a bilingual 400 naming what is wrong. */
export function validateRecurrence(r: Recurrence, timeZone: string): void {
  const pattern = cronPattern(r);
  // croner also takes a seconds field; a commune programme is planned in minutes (issue 14: `* * * * * *` was saved).
  const fields = pattern.split(/\s+/).length;
  if (fields !== 5 && !/^@(yearly|annually|monthly|weekly|daily|hourly)$/.test(pattern)) invalid(`cron must have 5 fields (minute hour day month weekday), "${pattern}" has ${fields}`, `biểu thức cron phải có 5 trường (phút giờ ngày tháng thứ), "${pattern}" có ${fields}`);
  try {
    new Cron(pattern, { ...zoneOption(timeZone), paused: true }).stop();
  } catch (err) {
    invalid(`"${pattern}" is not a valid cron expression (${(err as Error).message})`, `"${pattern}" không phải biểu thức cron hợp lệ`);
  }
  for (const d of [r.validFrom, r.validTo, ...(r.skipDates ?? [])]) {
    if (d !== undefined && (!DATE.test(d) || Number.isNaN(Date.parse(`${d}T00:00:00Z`)))) invalid(`dates must be YYYY-MM-DD, got "${d}"`, `ngày phải có dạng YYYY-MM-DD, nhận được "${d}"`);
  }
  if (r.validFrom && r.validTo && r.validFrom > r.validTo) invalid('validFrom is after validTo', 'ngày bắt đầu sau ngày kết thúc');
}

/**
 * Occurrence instants (ms, UTC) in [from, until), not before `notBefore`, within the
 * valid dates and not on a skipped date — all dates read in the area's timezone.
 */
export function occurrences(r: Recurrence, timeZone: string, window: { from: number; until: number; notBefore: number }, limit = MAX_OCCURRENCES): number[] {
  const cron = new Cron(cronPattern(r), { ...zoneOption(timeZone), paused: true });
  try {
    const skip = new Set(r.skipDates ?? []);
    const out: number[] = [];
    let cursor = new Date(Math.max(window.from, window.notBefore) - 1);
    while (out.length < Math.min(limit, MAX_OCCURRENCES)) {
      const next = cron.nextRun(cursor);
      if (!next || next.getTime() >= window.until) break;
      cursor = next;
      const day = localDate(next, timeZone);
      if (r.validTo && day > r.validTo) break;
      if ((r.validFrom && day < r.validFrom) || skip.has(day)) continue;
      out.push(next.getTime());
    }
    return out;
  } finally {
    cron.stop();
  }
}
