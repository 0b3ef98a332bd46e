/**
 * Moves bulletins forward (the leader's periodic check, on the injected clock): a waiting
 * schedule that was approved → `scheduled`; one deleted before it played → `rejected`; one not
 * approved before its validUntil (or before its time to play passed) → `expired`, its schedule
 * removed so a late approval cannot put an out-of-date bulletin on air; one whose plays are over →
 * `played` with its speakers' counts from their stored reports (or `expired` when no speaker
 * reported anything); an alert that ended → `played`. Every change is emitted and audited.
 */
import { every, type Clock, type Logger, type Repeating } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { ReportRepo } from '../reports/reports.js';
import type { Schedule, ScheduleRepo } from '../schedules/schedules.js';
import { schedulePlays } from '../schedules/timeline.js';
import type { AlertService } from '../alerts/service.js';
import type { AuditRepo } from '../audit/audit.js';
import { iso } from '../time.js';
import { anyReport, countPlays } from './outcome.js';
import type { Bulletin, BulletinChange, BulletinCounts, BulletinRepo } from './repo.js';

/** How often the leader looks at open bulletins. */
export const BULLETIN_CHECK_MS = 30_000;
/** Reports may arrive this long after a bulletin's last play ends (agents' outboxes) before it is judged. */
export const REPORT_GRACE_MS = 30 * 60_000;
/** A bulletin still `receiving` this long after its delivery was interrupted (the server stopped). */
const STALE_RECEIVING_MS = 10 * 60_000;

const DAY_MS = 24 * 3600_000;

export interface BulletinProgressDeps {
  repo: BulletinRepo;
  areas: AreaRepo;
  devices: Pick<DeviceRepo, 'resolveTargetIds'>;
  content: Pick<ContentRepo, 'lookup'>;
  schedules: Pick<ScheduleRepo, 'get' | 'delete'>;
  alerts: Pick<AlertService, 'view'>;
  reports: Pick<ReportRepo, 'ofSchedule'>;
  audit: Pick<AuditRepo, 'append'>;
  clock: Clock;
  logger: Logger;
  /** Told of every state change. */
  emit: (b: Bulletin) => void;
}

const say = (vi: string, en: string) => `${vi} / ${en}`;
const REASONS = {
  deleted: say('Lịch phát đã bị xoá trước khi phát', 'Its schedule was deleted before it played'),
  notApproved: say('Không được phê duyệt trước khi hết hiệu lực', 'Not approved before it expired or its time to play passed'),
  noReport: say('Không loa nào báo đã phát', 'No speaker reported playing it'),
  edited: say('Lịch phát đã bị sửa và đang chờ phê duyệt lại', 'Its schedule was edited and waits for approval again'),
  interrupted: say('Việc tiếp nhận bị gián đoạn (máy chủ dừng); hãy gửi lại', 'Receiving it was interrupted (the server stopped); send it again'),
};

export class BulletinProgress {
  private timer: Repeating | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly d: BulletinProgressDeps) {}

  start(): void {
    this.timer ??= every(this.d.clock, BULLETIN_CHECK_MS, () => void this.check());
  }

  async stop(): Promise<void> {
    this.timer?.stop();
    this.timer = null;
    await this.running;
  }

  /** One pass over the open bulletins (one at a time: a pass still running is awaited, not doubled). */
  check(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    try {
      for (const b of await this.d.repo.open()) {
        try {
          await this.advance(b);
        } catch (err) {
          this.d.logger.error({ err, bulletinId: b.id }, 'bulletin outcome not updated');
        }
      }
    } catch (err) {
      this.d.logger.error({ err }, 'open bulletins not read');
    }
  }

  private async advance(b: Bulletin): Promise<void> {
    const now = this.d.clock.now();
    if (b.state === 'receiving') {
      if (now - Date.parse(b.updatedAt) > STALE_RECEIVING_MS) await this.move(b, { state: 'failed', reason: REASONS.interrupted });
      return;
    }
    if (b.state === 'broadcasting') return this.advanceAlert(b);
    const schedule = b.scheduleId ? await this.d.schedules.get(b.scheduleId) : null;
    if (!schedule) {
      const counts = await this.counts(b.scheduleId ?? '', await this.d.devices.resolveTargetIds(b.areaIds, []), 1, Date.parse(b.validFrom) - DAY_MS, now + DAY_MS);
      await this.move(b, anyReport(counts) ? { state: 'played', counts: strip(counts) } : { state: 'rejected', reason: REASONS.deleted });
      return;
    }
    const { passes, endsAt } = await this.plays(schedule);
    if (schedule.status === 'pending') {
      if (now >= Math.min(b.validUntil ? Date.parse(b.validUntil) : Infinity, endsAt)) {
        await this.d.schedules.delete(schedule.id);
        await this.move(b, { state: 'expired', reason: REASONS.notApproved });
      } else if (b.state === 'scheduled') {
        await this.move(b, { state: 'pending-approval', reason: REASONS.edited });
      }
      return;
    }
    let current = b;
    if (b.state === 'pending-approval') {
      const moved = await this.move(b, { state: 'scheduled', reason: b.reason === REASONS.edited ? null : b.reason });
      if (!moved) return;
      current = moved;
    }
    if (now < endsAt) return;
    const targeted = await this.d.devices.resolveTargetIds(schedule.targets.areaIds, schedule.targets.deviceIds);
    const counts = await this.counts(schedule.id, targeted, passes, Date.parse(schedule.start) - DAY_MS, endsAt + DAY_MS);
    if (!counts.settled && now < endsAt + REPORT_GRACE_MS) return;
    await this.move(current, anyReport(counts) ? { state: 'played', counts: strip(counts) } : { state: 'expired', counts: strip(counts), reason: REASONS.noReport });
  }

  private async advanceAlert(b: Bulletin): Promise<void> {
    const view = await this.d.alerts.view(b.alertId!);
    const counts = await this.counts(view.id, view.deliveries.map((x) => x.deviceId), view.repeat, Date.parse(view.startAt) - DAY_MS, Date.parse(view.expiresAt) + DAY_MS);
    if (!counts.settled && view.state === 'active') return;
    await this.move(b, anyReport(counts) ? { state: 'played', counts: strip(counts) } : { state: 'expired', counts: strip(counts), reason: REASONS.noReport });
  }

  /** Plays each speaker is given (passes × items) and when the last ends. */
  private async plays(schedule: Schedule): Promise<{ passes: number; endsAt: number }> {
    const start = Date.parse(schedule.start);
    const plays = await schedulePlays(schedule, { areas: this.d.areas, content: await this.d.content.lookup([schedule]) }, start - 1, start + 7 * DAY_MS);
    const endsAt = Math.max(start, ...plays.map((p) => Date.parse(p.startAt) + p.durationMs));
    return { passes: plays.length, endsAt };
  }

  private async counts(scheduleId: string, targeted: string[], passes: number, from: number, to: number) {
    return countPlays(targeted, passes, await this.d.reports.ofSchedule(scheduleId, iso(from), iso(to)));
  }

  private async move(b: Bulletin, change: BulletinChange): Promise<Bulletin | null> {
    const moved = await this.d.repo.move(b.id, b.state, change);
    if (!moved) return null;
    this.d.emit(moved);
    await this.d.audit.append({
      at: iso(this.d.clock.now()),
      userId: null,
      username: null,
      areaId: null,
      source: 'server',
      action: `bulletin-${moved.state}`,
      target: moved.id,
      status: null,
      detail: { upstreamId: moved.upstreamId, from: b.state, reason: moved.reason, counts: moved.counts, scheduleId: moved.scheduleId, alertId: moved.alertId },
    });
    return moved;
  }
}

function strip(c: BulletinCounts & { settled?: boolean }): BulletinCounts {
  return { targeted: c.targeted, played: c.played, failed: c.failed, noReport: c.noReport };
}
