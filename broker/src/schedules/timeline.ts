/**
 * What a device will play: every run of every schedule (approved and pending) that reaches
 * it, over a window. Used for the conflict check at creation and the timeline preview.
 */
import type { DesiredPlay } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
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

export function schedulePlays(s: Schedule, deps: Pick<TimelineDeps, 'areas' | 'content'>, from: number, until: number): DesiredPlay[] {
  const tz = deps.areas.effectiveTimezone(s.areaId);
  return runStarts(s, tz, from, until, runSpanMs(s, deps.content, OPTIONS))
    .flatMap((r) => playsOfRun(s, r, deps.content, OPTIONS))
    .filter((p) => Date.parse(p.startAt) + p.durationMs > from && Date.parse(p.startAt) < until);
}

function targetDeviceIds(s: Pick<Schedule, 'targets'>, devices: DeviceRepo): Set<string> {
  return new Set(devices.resolveTargetIds(s.targets.areaIds, s.targets.deviceIds));
}

/** A device's programme over [from, until), with each play's schedule status. */
export function deviceTimeline(deviceId: string, deps: TimelineDeps, from: number, until: number) {
  return deps.schedules
    .list()
    .filter((s) => targetDeviceIds(s, deps.devices).has(deviceId))
    .flatMap((s) => schedulePlays(s, deps, from, until).map((p) => ({ ...p, scheduleTitle: s.title, scheduleStatus: s.status, endAt: new Date(Date.parse(p.startAt) + p.durationMs).toISOString() })))
    .sort((a, b) => a.startAt.localeCompare(b.startAt));
}

/**
 * An area's programme over [from, until): the plays of every schedule reaching a device in
 * the area or below, each once, with how many of those devices it reaches. A device added
 * after a play started is not counted for it (issue 14: the overview counted it for the
 * morning's bulletin); a play that reached none of them is left out.
 */
export function areaTimeline(areaId: string, deps: TimelineDeps, from: number, until: number) {
  const addedAt = deps.devices.addedAtInAreas(deps.areas.subtreeIds(areaId));
  return deps.schedules
    .list()
    .map((s) => ({ s, reached: [...targetDeviceIds(s, deps.devices)].flatMap((d) => addedAt.get(d) ?? []) }))
    .filter(({ reached }) => reached.length > 0)
    .flatMap(({ s, reached }) =>
      schedulePlays(s, deps, from, until).map((p) => ({
        ...p,
        scheduleTitle: s.title,
        scheduleStatus: s.status,
        priority: s.priority,
        devices: reached.filter((added) => added <= Date.parse(p.startAt)).length,
        endAt: new Date(Date.parse(p.startAt) + p.durationMs).toISOString(),
      })),
    )
    .filter((p) => p.devices > 0)
    .sort((a, b) => a.startAt.localeCompare(b.startAt));
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
export function assertNoConflict(draft: Schedule, deps: TimelineDeps, now: number): void {
  const until = now + CHECK_WINDOW_MS;
  const mine = schedulePlays(draft, deps, now, until);
  if (mine.length === 0) return;
  let myDevices: Set<string> | null = null;
  for (const other of deps.schedules.list()) {
    if (other.id === draft.id || other.priority !== draft.priority) continue;
    const theirs = schedulePlays(other, deps, now, until);
    const clash = mine.find((p) => theirs.some((q) => overlaps(p, q)));
    if (!clash) continue;
    myDevices ??= targetDeviceIds(draft, deps.devices);
    const shared = [...targetDeviceIds(other, deps.devices)].filter((d) => myDevices!.has(d));
    if (shared.length === 0) continue;
    const tz = deps.areas.effectiveTimezone(draft.areaId);
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
