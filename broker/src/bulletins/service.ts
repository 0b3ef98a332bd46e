/**
 * Bulletins from the province's source-information system (HTTTN; issue 21 item 2): a delivery
 * is idempotent on (caller, upstream id), its codes become areas of the caller's scope, its text
 * is spoken or its audio fetched, and it becomes a schedule through ScheduleService (so the
 * area's approval rule decides, decision 0008) — or, for an emergency from a caller who may send
 * alerts, an alert that cuts in now. Its outcome is followed by `BulletinProgress` and every
 * state change is emitted as `outcome`. Routes parse, call one method, and reply.
 */
import { EventEmitter } from 'node:events';
import { isLoaError, type Clock, type Logger, type Priority } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ScheduleService } from '../schedules/service.js';
import type { AlertDesk } from '../alerts/desk.js';
import { callerCan } from '../accounts/roles.js';
import type { Caller } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import { bulletinContent, type BulletinContentDeps } from './content.js';
import { bulletinHash, type BulletinInput } from './input.js';
import type { Bulletin, BulletinRepo, BulletinState, NewBulletin } from './repo.js';
import { commonArea, matchCodes } from './targets.js';

/** A bulletin due "now" starts this much later, so speakers have its programme and audio in time. */
export const BULLETIN_START_LEAD_MS = 60_000;

export interface BulletinEvents {
  /** A bulletin changed state (made, waiting, scheduled, broadcasting, played, rejected, expired, failed). */
  outcome: [Bulletin];
}

export interface BulletinServiceDeps extends BulletinContentDeps {
  repo: BulletinRepo;
  areas: AreaRepo;
  scheduling: Pick<ScheduleService, 'create'>;
  alertDesk: Pick<AlertDesk, 'issue'>;
  clock: Clock;
  logger: Logger;
  /** How much later than now a bulletin due now starts (default BULLETIN_START_LEAD_MS). */
  startLeadMs?: number;
}

/** What `receive` did: made it now (201), or found it made before (a resend, 200). */
export interface Received {
  bulletin: Bulletin;
  created: boolean;
}

const DOWNGRADED = {
  vi: 'Khẩn cấp nhưng tài khoản gửi không có quyền phát cảnh báo: đã tạo lịch phát ưu tiên, chờ phê duyệt',
  en: 'Emergency, but the sending account may not send alerts: made a priority schedule that waits for approval',
};

export class BulletinService {
  readonly events = new EventEmitter<BulletinEvents>().setMaxListeners(0);

  constructor(private readonly d: BulletinServiceDeps) {}

  /** Takes a bulletin in; a resend of the same body returns the stored one, a changed body is refused (409). */
  async receive(caller: Caller, input: BulletinInput): Promise<Received> {
    const now = this.d.clock.now();
    if ((input.text === undefined) === (input.audioUrl === undefined)) {
      throw brokerError('LOA_ERR_INVALID', { en: 'give either text or audioUrl', vi: 'cần có text hoặc audioUrl (chỉ một trong hai)' });
    }
    const validFrom = input.validFrom ? Date.parse(input.validFrom) : now;
    const validUntil = input.validUntil ? Date.parse(input.validUntil) : null;
    if (validUntil !== null && validUntil <= validFrom) throw brokerError('LOA_ERR_INVALID', { en: 'validUntil must be after validFrom', vi: 'validUntil phải sau validFrom' });
    const hash = bulletinHash(input);
    const before = await this.d.repo.byUpstream(caller.user.id, input.id);
    // A resend is answered with what was stored, even once its validity has passed.
    if (before && before.bulletin.state !== 'failed') return { bulletin: this.replay(before, hash), created: false };
    if (validUntil !== null && validUntil <= now) throw brokerError('LOA_ERR_INVALID', { en: 'validUntil has passed', vi: 'thời hạn validUntil đã qua' });
    const { areaIds, unmatched } = await matchCodes(this.d.areas, caller, input.areaCodes);
    const fields: NewBulletin = {
      sourceId: caller.user.id,
      upstreamId: input.id,
      requestHash: hash,
      title: input.title,
      priority: input.priority,
      validFrom: iso(validFrom),
      validUntil: validUntil === null ? null : iso(validUntil),
      areaIds,
      unmatchedCodes: unmatched,
    };
    // The unique key (caller, upstream id) decides between deliveries that race: one claims it.
    const claimed = before ? await this.d.repo.reclaim(before.bulletin.id, fields) : await this.d.repo.claim(fields);
    if (!claimed) {
      const winner = await this.d.repo.byUpstream(caller.user.id, input.id);
      if (!winner) throw new Error(`bulletin ${input.id} neither claimed nor found`);
      return { bulletin: this.replay(winner, hash), created: false };
    }
    return { bulletin: await this.make(caller, input, claimed), created: true };
  }

  /** The stored bulletin for a resend with the same body; 409 for another body under the same id. */
  private replay(stored: { bulletin: Bulletin; hash: string }, hash: string): Bulletin {
    if (stored.hash === hash) return stored.bulletin;
    throw brokerError(
      'LOA_ERR_CONFLICT',
      {
        en: `bulletin id ${stored.bulletin.upstreamId} was delivered before with a different body; send a new id for a new bulletin`,
        vi: `mã bản tin ${stored.bulletin.upstreamId} đã được gửi trước đó với nội dung khác; hãy dùng mã mới cho bản tin mới`,
      },
      { bulletinId: stored.bulletin.id },
    );
  }

  /** Its content, then its alert or schedule; on any failure it is stored `failed` with the reason, and the error rethrown. */
  private async make(caller: Caller, input: BulletinInput, b: Bulletin): Promise<Bulletin> {
    const emergency = input.priority === 'emergency';
    const asAlert = emergency && callerCan(caller, 'alerts:write');
    let contentId: string | null = null;
    try {
      contentId = await bulletinContent(this.d, caller, input, asAlert);
      if (asAlert) {
        const alert = await this.d.alertDesk.issue(caller, {
          title: input.title,
          contentId,
          targets: { areaIds: b.areaIds, deviceIds: [] },
          repeat: input.repeat?.count ?? 1,
          gapSec: input.repeat?.gapSec ?? 3,
          ...(b.validUntil ? { expiresAt: b.validUntil } : {}),
          priority: 'emergency',
        });
        return await this.settle(b, { state: 'broadcasting', contentId, alertId: alert.id });
      }
      const now = this.d.clock.now();
      const priority: Priority = emergency ? 'priority' : input.priority;
      const schedule = await this.d.scheduling.create(
        caller,
        {
          title: input.title,
          items: [{ contentId }],
          targets: { areaIds: b.areaIds, deviceIds: [] },
          start: iso(Math.max(Date.parse(b.validFrom), now + (this.d.startLeadMs ?? BULLETIN_START_LEAD_MS))),
          priority,
          ...(input.repeat ? { repeat: input.repeat } : {}),
          areaId: await commonArea(this.d.areas, caller, b.areaIds),
        },
        { holdForApproval: emergency },
      );
      const state: BulletinState = schedule.status === 'approved' ? 'scheduled' : 'pending-approval';
      return await this.settle(b, { state, contentId, scheduleId: schedule.id, reason: emergency ? `${DOWNGRADED.vi} / ${DOWNGRADED.en}` : null });
    } catch (err) {
      const reason = isLoaError(err) ? `${err.messageVi} / ${err.message}` : 'Lỗi máy chủ / Server error';
      this.d.logger.warn({ err, bulletinId: b.id, upstreamId: b.upstreamId }, 'bulletin could not be made');
      await this.settle(b, { state: 'failed', contentId, reason }).catch((e: unknown) => this.d.logger.error({ err: e, bulletinId: b.id }, 'failed bulletin not recorded'));
      throw err;
    }
  }

  private async settle(b: Bulletin, change: Parameters<BulletinRepo['move']>[2]): Promise<Bulletin> {
    const moved = await this.d.repo.move(b.id, 'receiving', change);
    if (!moved) throw new Error(`bulletin ${b.id} left 'receiving' while it was made`);
    this.events.emit('outcome', moved);
    return moved;
  }

  /** A caller sees the bulletins they sent and those that reach one of their areas. */
  private visible(caller: Caller, b: Bulletin): boolean {
    return b.sourceId === caller.user.id || b.areaIds.some((a) => caller.scope.has(a));
  }

  /** Newest first, those the caller sees. */
  async list(caller: Caller, q: { state?: BulletinState; limit: number }): Promise<Bulletin[]> {
    return (await this.d.repo.list({ ...(q.state ? { state: q.state } : {}), limit: 5000 })).filter((b) => this.visible(caller, b)).slice(0, q.limit);
  }

  async get(caller: Caller, id: string): Promise<Bulletin> {
    const b = await this.d.repo.get(id);
    if (!b) throw brokerError('LOA_ERR_NOT_FOUND', { en: `bulletin ${id}`, vi: `bản tin ${id}` });
    if (!this.visible(caller, b)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return b;
  }

  /** By the upstream system's id: the caller's own first, else one they see. */
  async byUpstream(caller: Caller, upstreamId: string): Promise<Bulletin> {
    const own = await this.d.repo.byUpstream(caller.user.id, upstreamId);
    if (own) return own.bulletin;
    const seen = (await this.d.repo.allByUpstream(upstreamId)).find((b) => this.visible(caller, b));
    if (!seen) throw brokerError('LOA_ERR_NOT_FOUND', { en: `bulletin with upstream id ${upstreamId}`, vi: `bản tin có mã nguồn ${upstreamId}` });
    return seen;
  }
}
