/**
 * The table `bulletins` (migration 24): one row per caller and upstream id. The unique key
 * (source_id, upstream_id) decides which of two identical deliveries made the bulletin; state
 * changes are conditional on the state read, so two nodes never both move one bulletin.
 */
import { randomUUID } from 'node:crypto';
import type { Priority } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { BulletinsTable } from '../store/schema.js';
import { iso } from '../time.js';

export const BULLETIN_STATES = ['receiving', 'pending-approval', 'scheduled', 'broadcasting', 'played', 'rejected', 'expired', 'failed'] as const;
/** `receiving`: its content and schedule are being made (a moment, within the request). */
export type BulletinState = (typeof BULLETIN_STATES)[number];
/** States a bulletin never leaves (`failed` only by a resend of its id). */
export const FINAL_STATES: readonly BulletinState[] = ['played', 'rejected', 'expired', 'failed'];

/** How its speakers did, from their stored play reports. */
export interface BulletinCounts {
  /** Speakers it was sent to. */
  targeted: number;
  /** Speakers that played it to the end (every pass). */
  played: number;
  /** Speakers that reported it failed, interrupted or skipped. */
  failed: number;
  /** Speakers that sent no report. */
  noReport: number;
}

export interface Bulletin {
  id: string;
  /** The caller (user or service account) that delivered it. */
  sourceId: string;
  upstreamId: string;
  title: string;
  priority: Priority;
  validFrom: string;
  validUntil: string | null;
  areaIds: string[];
  /** Codes it named that match no area in the caller's scope. */
  unmatchedCodes: string[];
  contentId: string | null;
  scheduleId: string | null;
  alertId: string | null;
  state: BulletinState;
  /** Why it is in its state, in Vietnamese and English, when there is something to say. */
  reason: string | null;
  counts: BulletinCounts | null;
  createdAt: string;
  updatedAt: string;
}

export interface BulletinChange {
  state: BulletinState;
  reason?: string | null;
  counts?: BulletinCounts | null;
  contentId?: string | null;
  scheduleId?: string | null;
  alertId?: string | null;
  areaIds?: string[];
  unmatchedCodes?: string[];
}

export interface NewBulletin {
  sourceId: string;
  upstreamId: string;
  requestHash: string;
  title: string;
  priority: Priority;
  validFrom: string;
  validUntil: string | null;
  areaIds: string[];
  unmatchedCodes: string[];
}

function toBulletin(r: BulletinsTable): Bulletin {
  return {
    id: r.id,
    sourceId: r.source_id,
    upstreamId: r.upstream_id,
    title: r.title,
    priority: r.priority,
    validFrom: r.valid_from,
    validUntil: r.valid_until,
    areaIds: JSON.parse(r.area_ids_json) as string[],
    unmatchedCodes: JSON.parse(r.unmatched_codes_json) as string[],
    contentId: r.content_id,
    scheduleId: r.schedule_id,
    alertId: r.alert_id,
    state: r.state as BulletinState,
    reason: r.reason,
    counts: r.outcome_json ? (JSON.parse(r.outcome_json) as BulletinCounts) : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A bulletin's columns as it is (again) being received: its request, nothing made yet. */
function receiving(input: NewBulletin) {
  return {
    request_hash: input.requestHash,
    title: input.title,
    priority: input.priority,
    valid_from: input.validFrom,
    valid_until: input.validUntil,
    area_ids_json: JSON.stringify(input.areaIds),
    unmatched_codes_json: JSON.stringify(input.unmatchedCodes),
    content_id: null,
    schedule_id: null,
    alert_id: null,
    state: 'receiving' as const,
    reason: null,
    outcome_json: null,
  };
}

export class BulletinRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  async get(id: string): Promise<Bulletin | null> {
    const row = await this.db.selectFrom('bulletins').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toBulletin(row) : null;
  }

  /** The bulletin and its request's hash, by who sent it and their id. */
  async byUpstream(sourceId: string, upstreamId: string): Promise<{ bulletin: Bulletin; hash: string } | null> {
    const row = await this.db.selectFrom('bulletins').selectAll().where('source_id', '=', sourceId).where('upstream_id', '=', upstreamId).executeTakeFirst();
    return row ? { bulletin: toBulletin(row), hash: row.request_hash } : null;
  }

  /** Every bulletin with this upstream id, whoever sent it (a caller's view filters them). */
  async allByUpstream(upstreamId: string): Promise<Bulletin[]> {
    const rows = await this.db.selectFrom('bulletins').selectAll().where('upstream_id', '=', upstreamId).orderBy('created_at', 'desc').execute();
    return rows.map(toBulletin);
  }

  /**
   * Claims (sourceId, upstreamId) for a new bulletin in state `receiving`: the bulletin, or null
   * when a row with that key exists already (another delivery won; the unique key decides).
   */
  async claim(input: NewBulletin): Promise<Bulletin | null> {
    const at = iso(this.now());
    const row = await this.db
      .insertInto('bulletins')
      .values({ id: randomUUID(), source_id: input.sourceId, upstream_id: input.upstreamId, ...receiving(input), created_at: at, updated_at: at })
      .onConflict((oc) => oc.columns(['source_id', 'upstream_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toBulletin(row) : null;
  }

  /** A failed bulletin tried again (its body possibly corrected): null if another delivery took it first. */
  async reclaim(id: string, input: NewBulletin): Promise<Bulletin | null> {
    const row = await this.db
      .updateTable('bulletins')
      .set({ ...receiving(input), updated_at: iso(this.now()) })
      .where('id', '=', id)
      .where('state', '=', 'failed')
      .returningAll()
      .executeTakeFirst();
    return row ? toBulletin(row) : null;
  }

  /** Moves a bulletin from state `from`: the new row, or null when it was no longer in `from`. */
  async move(id: string, from: BulletinState, change: BulletinChange): Promise<Bulletin | null> {
    const row = await this.db
      .updateTable('bulletins')
      .set({
        state: change.state,
        updated_at: iso(this.now()),
        ...(change.reason !== undefined ? { reason: change.reason } : {}),
        ...(change.counts !== undefined ? { outcome_json: change.counts ? JSON.stringify(change.counts) : null } : {}),
        ...(change.contentId !== undefined ? { content_id: change.contentId } : {}),
        ...(change.scheduleId !== undefined ? { schedule_id: change.scheduleId } : {}),
        ...(change.alertId !== undefined ? { alert_id: change.alertId } : {}),
        ...(change.areaIds ? { area_ids_json: JSON.stringify(change.areaIds) } : {}),
        ...(change.unmatchedCodes ? { unmatched_codes_json: JSON.stringify(change.unmatchedCodes) } : {}),
      })
      .where('id', '=', id)
      .where('state', '=', from)
      .returningAll()
      .executeTakeFirst();
    return row ? toBulletin(row) : null;
  }

  /** Bulletins still under way (waiting, scheduled, broadcasting), for the periodic check. */
  async open(): Promise<Bulletin[]> {
    const rows = await this.db.selectFrom('bulletins').selectAll().where('state', 'in', ['pending-approval', 'scheduled', 'broadcasting']).orderBy('created_at').execute();
    return rows.map(toBulletin);
  }

  /** Newest first. */
  async list(q: { state?: BulletinState; limit: number }): Promise<Bulletin[]> {
    let query = this.db.selectFrom('bulletins').selectAll();
    if (q.state) query = query.where('state', '=', q.state);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id').limit(q.limit).execute();
    return rows.map(toBulletin);
  }
}
