/**
 * Schedules: a playlist of content items for target areas and devices, starting at an instant.
 * Only approved schedules reach devices.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../store/database.js';
import type { Schema } from '../store/schema.js';
import { inList } from '../store/portable.js';
import { brokerError } from '../errors.js';
import { newId, type Priority } from '@loalang/protocol';
import { iso } from '../time.js';
import type { Recurrence } from './recurrence.js';
import type { ScheduleItem } from './items.js';
import type { Targets } from '../accounts/scope.js';

export type ScheduleStatus = 'pending' | 'approved';
export type { ScheduleItem } from './items.js';

export interface Schedule {
  id: string;
  title: string;
  areaId: string;
  priority: Priority;
  start: string;
  items: ScheduleItem[];
  targets: Targets;
  volume: number | null;
  /** Null for a one-off schedule that plays once at `start`. */
  recurrence: Recurrence | null;
  /** The playlist plays `count` times (1–10) with `gapSec` of silence between passes. */
  repeat: { count: number; gapSec: number };
  status: ScheduleStatus;
  createdBy: string | null;
  approvedBy: string | null;
  approvedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

type Row = {
  id: string;
  title: string;
  area_id: string;
  priority: Priority;
  start_at: string;
  items_json: string;
  volume: number | null;
  recurrence_json: string | null;
  repeat_count: number;
  repeat_gap_sec: number;
  status: ScheduleStatus;
  created_by: string | null;
  approved_by: string | null;
  approved_at: string | null;
  created_at: string;
  updated_at: string;
};

export type NewSchedule = Omit<Schedule, 'id' | 'status' | 'approvedAt' | 'createdAt' | 'updatedAt'>;

type TargetRow = { schedule_id: string; kind: string; target_id: string };

function toSchedule(r: Row, targets: TargetRow[]): Schedule {
  return {
    id: r.id,
    title: r.title,
    areaId: r.area_id,
    priority: r.priority,
    start: r.start_at,
    items: JSON.parse(r.items_json) as ScheduleItem[],
    targets: {
      areaIds: targets.filter((t) => t.kind === 'area').map((t) => t.target_id),
      deviceIds: targets.filter((t) => t.kind === 'device').map((t) => t.target_id),
    },
    volume: r.volume,
    recurrence: r.recurrence_json ? (JSON.parse(r.recurrence_json) as Recurrence) : null,
    repeat: { count: r.repeat_count, gapSec: r.repeat_gap_sec },
    status: r.status,
    createdBy: r.created_by,
    approvedBy: r.approved_by,
    approvedAt: r.approved_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class ScheduleRepo {
  constructor(
    private readonly db: Database,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  /** Rows with their targets, read in one more query for all of them. */
  private async withTargets(rows: Row[]): Promise<Schedule[]> {
    if (rows.length === 0) return [];
    const targets = await this.db
      .selectFrom('schedule_targets')
      .select(['schedule_id', 'kind', 'target_id'])
      .where(inList(this.db, 'schedule_id', new Set(rows.map((r) => r.id))))
      .orderBy('schedule_id')
      .orderBy('kind')
      .orderBy('target_id')
      .execute();
    const bySchedule = new Map<string, TargetRow[]>();
    for (const t of targets) bySchedule.set(t.schedule_id, [...(bySchedule.get(t.schedule_id) ?? []), t]);
    return rows.map((r) => toSchedule(r, bySchedule.get(r.id) ?? []));
  }

  async get(id: string): Promise<Schedule | null> {
    const row = await this.db.selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? ((await this.withTargets([row as Row]))[0] ?? null) : null;
  }

  async require(id: string): Promise<Schedule> {
    const s = await this.get(id);
    if (!s) throw brokerError('LOA_ERR_NOT_FOUND', { en: `schedule ${id}`, vi: `lịch phát ${id}` });
    return s;
  }

  async list(): Promise<Schedule[]> {
    const rows = await this.db.selectFrom('schedules').selectAll().orderBy('start_at', 'desc').orderBy('id').execute();
    return this.withTargets(rows as Row[]);
  }

  async create(input: NewSchedule): Promise<Schedule> {
    const id = newId();
    const now = iso(this.now());
    const status: ScheduleStatus = input.approvedBy ? 'approved' : 'pending';
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('schedules')
        .values({
          id,
          title: input.title,
          area_id: input.areaId,
          priority: input.priority,
          start_at: input.start,
          items_json: JSON.stringify(input.items),
          volume: input.volume,
          recurrence_json: input.recurrence ? JSON.stringify(input.recurrence) : null,
          repeat_count: input.repeat.count,
          repeat_gap_sec: input.repeat.gapSec,
          status,
          created_by: input.createdBy,
          approved_by: input.approvedBy,
          approved_at: input.approvedBy ? now : null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await writeTargets(trx, id, input.targets);
    });
    return this.require(id);
  }

  /** Any change to what plays sends the schedule back to pending unless the editor may approve. */
  async update(id: string, patch: Partial<Omit<NewSchedule, 'createdBy' | 'areaId'>>): Promise<Schedule> {
    const current = await this.require(id);
    const next = { ...current, ...patch, start: patch.start ?? current.start };
    const approvedBy = patch.approvedBy === undefined ? current.approvedBy : patch.approvedBy;
    const status: ScheduleStatus = approvedBy ? 'approved' : 'pending';
    const now = iso(this.now());
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('schedules')
        .set({
          title: next.title,
          priority: next.priority,
          start_at: next.start,
          items_json: JSON.stringify(next.items),
          volume: next.volume,
          recurrence_json: next.recurrence ? JSON.stringify(next.recurrence) : null,
          repeat_count: next.repeat.count,
          repeat_gap_sec: next.repeat.gapSec,
          status,
          approved_by: approvedBy,
          approved_at: approvedBy ? (current.approvedAt ?? now) : null,
          updated_at: now,
        })
        .where('id', '=', id)
        .execute();
      if (patch.targets) await writeTargets(trx, id, patch.targets);
    });
    return this.require(id);
  }

  async approve(id: string, userId: string): Promise<Schedule> {
    await this.require(id);
    const now = iso(this.now());
    await this.db.updateTable('schedules').set({ status: 'approved', approved_by: userId, approved_at: now, updated_at: now }).where('id', '=', id).execute();
    return this.require(id);
  }

  async delete(id: string): Promise<void> {
    await this.require(id);
    await this.db.deleteFrom('schedules').where('id', '=', id).execute();
  }

  /** Approved schedules that target any of the areas (by id) or the device directly. */
  async approvedFor(deviceId: string, areaIds: string[]): Promise<Schedule[]> {
    const rows = await this.db
      .selectFrom('schedules as s')
      .selectAll('s')
      .where('s.status', '=', 'approved')
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('schedule_targets as t')
            .select('t.schedule_id')
            .whereRef('t.schedule_id', '=', 's.id')
            .where((t) =>
              t.or([
                t.and([t('t.kind', '=', 'device'), t('t.target_id', '=', deviceId)]),
                t.and([t('t.kind', '=', 'area'), inList(this.db, 't.target_id', areaIds)]),
              ]),
            ),
        ),
      )
      .orderBy('s.start_at')
      .orderBy('s.id')
      .execute();
    return this.withTargets(rows as Row[]);
  }
}

async function writeTargets(trx: Transaction<Schema>, id: string, targets: Targets): Promise<void> {
  await trx.deleteFrom('schedule_targets').where('schedule_id', '=', id).execute();
  const rows = [
    ...new Set(targets.areaIds.map((a) => `area\u0000${a}`)),
    ...new Set(targets.deviceIds.map((d) => `device\u0000${d}`)),
  ].map((key) => {
    const [kind, target_id] = key.split('\u0000') as [string, string];
    return { schedule_id: id, kind, target_id };
  });
  // In chunks: a schedule may name up to 10,000 devices, three parameters each.
  for (let i = 0; i < rows.length; i += 1000) {
    await trx.insertInto('schedule_targets').values(rows.slice(i, i + 1000)).onConflict((oc) => oc.doNothing()).execute();
  }
}
