/**
 * Quiet hours: a daily local-time window (e.g. 21:30 → 05:30, across midnight) in which
 * nothing but emergencies may play. Residents complain about broadcasts at 4:30–5:00.
 * Pure functions, used by the server (refuse at creation) and the agent (enforce at play).
 */
import { Type, type Static } from '@sinclair/typebox';

const HHMM = '^([01]\\d|2[0-3]):[0-5]\\d$';
export const QuietHours = Type.Object(
  { from: Type.String({ pattern: HHMM }), to: Type.String({ pattern: HHMM }), timeZone: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);
export type QuietHours = Static<typeof QuietHours>;

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function localMinutes(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(ms));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

function insideWindow(m: number, from: number, to: number): boolean {
  return from <= to ? m >= from && m < to : m >= from || m < to;
}

/** True when any part of [startMs, startMs + durationMs) falls in the quiet window. */
export function overlapsQuietHours(startMs: number, durationMs: number, qh: QuietHours, timeZone: string): boolean {
  const from = toMinutes(qh.from);
  const to = toMinutes(qh.to);
  if (from === to) return false;
  const start = localMinutes(startMs, timeZone);
  if (insideWindow(start, from, to)) return true;
  const untilWindow = (from - start + 1440) % 1440; // minutes from the start to the window opening
  return untilWindow * 60_000 < durationMs;
}
