/**
 * Refuses a schedule that cannot play as written (issue 14: a cron of `* * * * * *` was saved,
 * grew a speaker's programme past what it accepts and silenced its other bulletins). Each
 * problem is a bilingual LOA_ERR_SCHEDULE_PLAN naming what is wrong, so both saving and the dry
 * run say it:
 * - `ends-before-start`: the recurrence's last date is before its first run;
 * - `never-plays`: no run within a year (`0 6 31 2 *`, valid dates that exclude every run);
 * - `overlapping-runs`: a run starts before the previous one ends;
 * - `too-many-plays`: a speaker would get more than MAX_PLAYS_PER_DAY plays on one local day,
 *   this schedule's and the others' that reach it together.
 */
import type { AreaRepo } from '../areas/areas.js';
import type { ContentLookup, ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import { brokerError } from '../errors.js';
import { DEFAULT_DESIRED_OPTIONS, runSpanMs, runStarts } from './desired-state.js';
import { localDate, occurrences } from './recurrence.js';
import type { Schedule, ScheduleRepo } from './schedules.js';
import { CHECK_WINDOW_MS, schedulePlays, targetDeviceIds } from './timeline.js';

/** More than this many plays on one speaker in one day is a runaway, not a programme (a 3-minute song all day long is 480). */
export const MAX_PLAYS_PER_DAY = 500;
const YEAR_MS = 366 * 24 * 3600_000;
const OPTIONS = { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => '' };

export type PlanProblem = 'ends-before-start' | 'never-plays' | 'overlapping-runs' | 'too-many-plays';

export interface PlanDeps {
  areas: AreaRepo;
  devices: DeviceRepo;
  content: ContentRepo;
  schedules: ScheduleRepo;
}

function refuse(problem: PlanProblem, en: string, vi: string, details: Record<string, unknown> = {}): never {
  throw brokerError('LOA_ERR_SCHEDULE_PLAN', { en, vi }, { problem, ...details });
}

const minutes = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
};

/** Throws the first problem the schedule's plan has, if any. `draft.id` is '' for a new schedule. */
export async function assertPlayablePlan(draft: Schedule, deps: PlanDeps, now: number): Promise<void> {
  const r = draft.recurrence;
  if (!r) return; // a one-off plays once at its start, which is checked on its own
  const tz = await deps.areas.effectiveTimezone(draft.areaId);
  const start = Date.parse(draft.start);
  const startDay = localDate(new Date(start), tz);
  if (r.validTo && r.validTo < startDay) {
    refuse('ends-before-start', `it ends on ${r.validTo}, before its start on ${startDay}`, `lịch kết thúc ngày ${r.validTo}, trước ngày bắt đầu ${startDay}`, { validTo: r.validTo, start: startDay });
  }
  const from = Math.max(now, start);
  if (occurrences(r, tz, { from, until: from + YEAR_MS, notBefore: start }, 1).length === 0) {
    refuse('never-plays', 'its recurrence has no run within the next year: nothing would ever play', 'lịch lặp không có lượt phát nào trong một năm tới: sẽ không bao giờ phát', { recurrence: r });
  }
  const others = (await deps.schedules.list()).filter((other) => other.id !== draft.id);
  const content = await deps.content.lookup([draft, ...others]);
  const span = runSpanMs(draft, content, OPTIONS);
  const runs = runStarts(draft, tz, now, now + CHECK_WINDOW_MS, span).filter((at) => at >= now - span);
  for (let i = 1; i < runs.length; i++) {
    const gap = runs[i]! - runs[i - 1]!;
    if (gap < span) {
      refuse(
        'overlapping-runs',
        `each run lasts ${minutes(span)} but runs start ${minutes(gap)} apart: they would overlap`,
        `mỗi lượt kéo dài ${minutes(span)} nhưng các lượt bắt đầu cách nhau ${minutes(gap)}: chúng sẽ chồng lên nhau`,
        { runMs: span, gapMs: gap, at: new Date(runs[i]!).toISOString() },
      );
    }
  }
  await assertPlaysPerDay(draft, others, { ...deps, lookup: content }, now, tz);
}

/** Plays per local day over the check window, of one schedule. */
async function playsPerDay(s: Schedule, deps: PlanDeps & { lookup: ContentLookup }, now: number, tz: string): Promise<Map<string, number>> {
  const days = new Map<string, number>();
  for (const p of await schedulePlays(s, { areas: deps.areas, content: deps.lookup }, now, now + CHECK_WINDOW_MS)) {
    const day = localDate(new Date(p.startAt), tz);
    days.set(day, (days.get(day) ?? 0) + 1);
  }
  return days;
}

async function assertPlaysPerDay(draft: Schedule, others: Schedule[], deps: PlanDeps & { lookup: ContentLookup }, now: number, tz: string): Promise<void> {
  const mine = await playsPerDay(draft, deps, now, tz);
  const myDevices = await targetDeviceIds(draft, deps.devices);
  // Per speaker: this schedule's plays plus those of every other schedule that reaches it.
  const perDevice = new Map<string, Map<string, number>>();
  for (const other of others) {
    const shared = [...(await targetDeviceIds(other, deps.devices))].filter((d) => myDevices.has(d));
    if (shared.length === 0) continue;
    const theirs = await playsPerDay(other, deps, now, tz);
    for (const d of shared) {
      const days = perDevice.get(d) ?? new Map<string, number>();
      for (const [day, n] of theirs) days.set(day, (days.get(day) ?? 0) + n);
      perDevice.set(d, days);
    }
  }
  const worst = { n: 0, day: '', deviceId: null as string | null };
  for (const [day, n] of mine) if (n > worst.n) Object.assign(worst, { n, day, deviceId: null });
  for (const [deviceId, days] of perDevice) {
    for (const [day, n] of mine) {
      const total = n + (days.get(day) ?? 0);
      if (total > worst.n) Object.assign(worst, { n: total, day, deviceId });
    }
  }
  if (worst.n <= MAX_PLAYS_PER_DAY) return;
  const speaker = worst.deviceId ? ((await deps.devices.get(worst.deviceId))?.name ?? worst.deviceId) : null;
  refuse(
    'too-many-plays',
    `${worst.n} plays on ${worst.day}${speaker ? ` on speaker "${speaker}" (with its other schedules)` : ''}: at most ${MAX_PLAYS_PER_DAY} a day`,
    `${worst.n} lượt phát trong ngày ${worst.day}${speaker ? ` trên loa "${speaker}" (cùng các lịch khác của loa)` : ''}: tối đa ${MAX_PLAYS_PER_DAY} lượt một ngày`,
    { plays: worst.n, day: worst.day, max: MAX_PLAYS_PER_DAY, ...(worst.deviceId ? { deviceId: worst.deviceId } : {}) },
  );
}
