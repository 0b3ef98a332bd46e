/**
 * What a device will play: every run of every schedule (approved and pending) that reaches
 * it, over a window. Used for the conflict check at creation and the timeline preview.
 */
import type { DesiredPlay } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentLookup, ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import { brokerError } from '../errors.js';
import { DEFAULT_DESIRED_OPTIONS, playsOfRun, runSpanMs, runStarts } from './desired-state.js';
import type { Schedule, ScheduleRepo } from './schedules.js';

export interface TimelineDeps {
  areas: AreaRepo;
  devices: DeviceRepo;
  content: ContentRepo;
  schedules: ScheduleRepo;
}

export const CHECK_WINDOW_MS = 14 * 24 * 3600_000;
const OPTIONS = { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => '' };

/** One schedule's plays over [from, until), in its area's timezone, from content read ahead. */
export async function schedulePlays(s: Schedule, deps: { areas: Pick<AreaRepo, 'effectiveTimezone'>; content: ContentLookup }, from: number, until: number): Promise<DesiredPlay[]> {
  const tz = await deps.areas.effectiveTimezone(s.areaId);
  return runStarts(s, tz, from, until, runSpanMs(s, deps.content, OPTIONS))
    .flatMap((r) => playsOfRun(s, r, deps.content, OPTIONS))
    .filter((p) => Date.parse(p.startAt) + p.durationMs > from && Date.parse(p.startAt) < until);
}

export async function targetDeviceIds(s: Pick<Schedule, 'targets'>, devices: Pick<DeviceRepo, 'resolveTargetIds'>): Promise<Set<string>> {
  return new Set(await devices.resolveTargetIds(s.targets.areaIds, s.targets.deviceIds));
}

/** A device's programme over [from, until), with each play's schedule status. */
export async function deviceTimeline(deviceId: string, deps: TimelineDeps, from: number, until: number) {
  const schedules = await deps.schedules.list();
  const content = await deps.content.lookup(schedules);
  const plays = [];
  for (const s of schedules) {
    if (!(await targetDeviceIds(s, deps.devices)).has(deviceId)) continue;
    for (const p of await schedulePlays(s, { areas: deps.areas, content }, from, until)) {
      plays.push({ ...p, scheduleTitle: s.title, scheduleStatus: s.status, endAt: new Date(Date.parse(p.startAt) + p.durationMs).toISOString() });
    }
  }
  return plays.sort((a, b) => a.startAt.localeCompare(b.startAt));
}

/**
 * An area's programme over [from, until): the plays of every schedule reaching a device in
 * the area or below, each once, with how many of those devices it reaches. A device added
 * after a play started is not counted for it (issue 14: the overview counted it for the
 * morning's bulletin); a play that reached none of them is left out.
 */
export async function areaTimeline(areaId: string, deps: TimelineDeps, from: number, until: number) {
  const addedAt = await deps.devices.addedAtInAreas(await deps.areas.subtreeIds(areaId));
  const schedules = await deps.schedules.list();
  const content = await deps.content.lookup(schedules);
  const plays = [];
  for (const s of schedules) {
    const reached = [...(await targetDeviceIds(s, deps.devices))].flatMap((d) => addedAt.get(d) ?? []);
    if (reached.length === 0) continue;
    for (const p of await schedulePlays(s, { areas: deps.areas, content }, from, until)) {
      const devices = reached.filter((added) => added <= Date.parse(p.startAt)).length;
      if (devices === 0) continue;
      plays.push({ ...p, scheduleTitle: s.title, scheduleStatus: s.status, priority: s.priority, devices, endAt: new Date(Date.parse(p.startAt) + p.durationMs).toISOString() });
    }
  }
  return plays.sort((a, b) => a.startAt.localeCompare(b.startAt));
}

const overlaps = (a: DesiredPlay, b: DesiredPlay) => {
  const as = Date.parse(a.startAt);
  const bs = Date.parse(b.startAt);
  return as < bs + b.durationMs && bs < as + a.durationMs;
};

/**
 * Refuses (409) a schedule whose plays overlap, on some shared device, the plays of another
 * schedule of the same priority. Different priorities may overlap: the higher one goes first
 * or preempts (Thông tư 39's three levels).
 */
export async function assertNoConflict(draft: Schedule, deps: TimelineDeps, now: number): Promise<void> {
  const until = now + CHECK_WINDOW_MS;
  const others = (await deps.schedules.list()).filter((other) => other.id !== draft.id && other.priority === draft.priority);
  const content = await deps.content.lookup([draft, ...others]);
  const mine = await schedulePlays(draft, { areas: deps.areas, content }, now, until);
  if (mine.length === 0) return;
  let myDevices: Set<string> | null = null;
  for (const other of others) {
    const theirs = await schedulePlays(other, { areas: deps.areas, content }, now, until);
    const clash = mine.find((p) => theirs.some((q) => overlaps(p, q)));
    if (!clash) continue;
    myDevices ??= await targetDeviceIds(draft, deps.devices);
    const shared = [...(await targetDeviceIds(other, deps.devices))].filter((d) => myDevices!.has(d));
    if (shared.length === 0) continue;
    const tz = await deps.areas.effectiveTimezone(draft.areaId);
    const when = new Date(clash.startAt).toLocaleString('vi-VN', { timeZone: tz, dateStyle: 'short', timeStyle: 'short' });
    throw brokerError(
      'LOA_ERR_CONFLICT',
      {
        en: `at ${when} it overlaps schedule "${other.title}" on ${shared.length} device(s) at the same priority`,
        vi: `lúc ${when} trùng với lịch "${other.title}" trên ${shared.length} thiết bị cùng mức ưu tiên`,
      },
      { scheduleId: other.id, scheduleTitle: other.title, at: clash.startAt, deviceIds: shared.slice(0, 50) },
    );
  }
}
