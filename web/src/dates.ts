/** Dates as the browser's own clock and timezone read them (the user's day, not UTC's), or an area's. */
const pad = (n: number) => String(n).padStart(2, '0');

/** The server's default for areas with no timezone of their own (broker `DEFAULT_TIMEZONE`). */
export const DEFAULT_TIMEZONE = 'Asia/Ho_Chi_Minh';

/** YYYY-MM-DD of the local day, for date inputs. */
export const localDate = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** YYYY-MM-DDTHH:MM, for datetime-local inputs. */
export const localInput = (d: Date) => `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** HH:MM of the local time. */
export const localTime = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** The wall clock in `timeZone` at `at`, as the UTC instant with the same fields (ms). */
function wallClock(timeZone: string, at: number): number {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p['year']!, p['month']! - 1, p['day']!, p['hour']!, p['minute']!, p['second']!);
}

/** The instant the day containing `at` starts in `timeZone` (its local midnight). */
export function dayStartIn(timeZone: string, at: number): Date {
  const wall = wallClock(timeZone, at);
  const midnight = wall - (wall % 86_400_000);
  // The zone's offset near that midnight, checked once more across a change of offset.
  let start = midnight - (wall - Math.floor(at / 1000) * 1000);
  start = midnight - (wallClock(timeZone, start) - start);
  return new Date(start);
}

/** HH:MM of an instant in `timeZone` (an area's), written for `locale`. */
export const timeIn = (iso: string, timeZone: string, locale: string) => new Date(iso).toLocaleTimeString(locale, { timeZone, hour: '2-digit', minute: '2-digit' });
