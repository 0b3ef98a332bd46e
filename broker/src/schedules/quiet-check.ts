/**
 * Refuses, at creation, a non-emergency schedule with a play inside the quiet hours of any
 * target device's area. Recurring schedules are checked over their next 14 days of runs.
 */
import { overlapsQuietHours } from '@loalang/protocol';
import { brokerError } from '../errors.js';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import { DEFAULT_DESIRED_OPTIONS, playsOfRun, runSpanMs, runStarts } from './desired-state.js';
import type { Schedule } from './schedules.js';

const LOOK_AHEAD_MS = 14 * 24 * 3600_000;

export async function assertOutsideQuietHours(
  draft: Omit<Schedule, 'id' | 'status' | 'approvedAt' | 'createdAt' | 'updatedAt' | 'createdBy' | 'approvedBy'>,
  deps: { areas: AreaRepo; devices: DeviceRepo; content: ContentRepo },
  now: number,
): Promise<void> {
  if (draft.priority === 'emergency') return;
  const schedule = { ...draft, id: 'check', status: 'pending', approvedAt: null, createdAt: '', updatedAt: '', createdBy: null, approvedBy: null } as Schedule;
  const options = { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => '' };
  const areaIds = new Set((await deps.devices.resolveTargets(draft.targets.areaIds, draft.targets.deviceIds)).map((d) => d.areaId));
  const tz = await deps.areas.effectiveTimezone(draft.areaId);
  const content = await deps.content.lookup([schedule]);
  const runs = runStarts(schedule, tz, now, now + LOOK_AHEAD_MS, runSpanMs(schedule, content, options));
  const plays = runs.flatMap((r) => playsOfRun(schedule, r, content, options));
  for (const areaId of areaIds) {
    const qh = await deps.areas.effectiveQuietHours(areaId);
    if (!qh) continue;
    const zone = qh.timeZone ?? tz;
    const clash = plays.find((p) => overlapsQuietHours(Date.parse(p.startAt), p.durationMs, qh, zone));
    if (!clash) continue;
    const when = new Date(clash.startAt).toLocaleString('vi-VN', { timeZone: zone, dateStyle: 'short', timeStyle: 'short' });
    const area = (await deps.areas.get(areaId))?.name ?? areaId;
    throw brokerError(
      'LOA_ERR_QUIET_HOURS',
      {
        en: `${area} is quiet from ${qh.from} to ${qh.to}; the play at ${when} falls in that time (only emergencies may)`,
        vi: `${area} có giờ yên tĩnh từ ${qh.from} đến ${qh.to}; lượt phát lúc ${when} rơi vào khoảng này (chỉ tin khẩn cấp được phát)`,
      },
      { areaId, playAt: clash.startAt, quietHours: { from: qh.from, to: qh.to } },
    );
  }
}
