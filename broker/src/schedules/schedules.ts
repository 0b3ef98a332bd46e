/**
 * Schedules: a playlist of content items for target areas and devices, starting at an instant.
 * Only approved schedules reach devices.
 */
import type { Db } from '../store/db.js';
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

export class ScheduleRepo {
  constructor(
    private readonly db: Db,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  private toSchedule(r: Row): Schedule {
    const targets = this.db.prepare('SELECT kind, target_id FROM schedule_targets WHERE schedule_id = ?').all(r.id) as {
      kind: 'area' | 'device';
      target_id: string;
    }[];
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

  get(id: string): Schedule | null {
    const row = this.db.prepare('SELECT * FROM schedules WHERE id = ?').get(id) as Row | undefined;
    return row ? this.toSchedule(row) : null;
  }

  require(id: string): Schedule {
    const s = this.get(id);
    if (!s) throw brokerError('LOA_ERR_NOT_FOUND', { en: `schedule ${id}`, vi: `lịch phát ${id}` });
    return s;
  }

  list(): Schedule[] {
    return (this.db.prepare('SELECT * FROM schedules ORDER BY start_at DESC').all() as Row[]).map((r) => this.toSchedule(r));
  }

  create(input: NewSchedule): Schedule {
    const id = newId();
    const now = iso(this.now());
    const status: ScheduleStatus = input.approvedBy ? 'approved' : 'pending';
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO schedules (id, title, area_id, priority, start_at, items_json, volume, recurrence_json, repeat_count, repeat_gap_sec, status, created_by, approved_by, approved_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, input.title, input.areaId, input.priority, input.start, JSON.stringify(input.items), input.volume, input.recurrence ? JSON.stringify(input.recurrence) : null, input.repeat.count, input.repeat.gapSec, status, input.createdBy, input.approvedBy, input.approvedBy ? now : null, now, now);
      this.writeTargets(id, input.targets);
    })();
    return this.require(id);
  }

  private writeTargets(id: string, targets: Targets): void {
    this.db.prepare('DELETE FROM schedule_targets WHERE schedule_id = ?').run(id);
    const insert = this.db.prepare('INSERT OR IGNORE INTO schedule_targets (schedule_id, kind, target_id) VALUES (?, ?, ?)');
    for (const a of targets.areaIds) insert.run(id, 'area', a);
    for (const d of targets.deviceIds) insert.run(id, 'device', d);
  }

  /** Any change to what plays sends the schedule back to pending unless the editor may approve. */
  update(id: string, patch: Partial<Omit<NewSchedule, 'createdBy' | 'areaId'>>): Schedule {
    const current = this.require(id);
    const next = { ...current, ...patch, start: patch.start ?? current.start };
    const approvedBy = patch.approvedBy === undefined ? current.approvedBy : patch.approvedBy;
    const status: ScheduleStatus = approvedBy ? 'approved' : 'pending';
    const now = iso(this.now());
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE schedules SET title = ?, priority = ?, start_at = ?, items_json = ?, volume = ?, recurrence_json = ?, repeat_count = ?, repeat_gap_sec = ?, status = ?, approved_by = ?, approved_at = ?, updated_at = ? WHERE id = ?`,
        )
        .run(next.title, next.priority, next.start, JSON.stringify(next.items), next.volume, next.recurrence ? JSON.stringify(next.recurrence) : null, next.repeat.count, next.repeat.gapSec, status, approvedBy, approvedBy ? (current.approvedAt ?? now) : null, now, id);
      if (patch.targets) this.writeTargets(id, patch.targets);
    })();
    return this.require(id);
  }

  approve(id: string, userId: string): Schedule {
    this.require(id);
    const now = iso(this.now());
    this.db.prepare(`UPDATE schedules SET status = 'approved', approved_by = ?, approved_at = ?, updated_at = ? WHERE id = ?`).run(userId, now, now, id);
    return this.require(id);
  }

  delete(id: string): void {
    this.require(id);
    this.db.prepare('DELETE FROM schedules WHERE id = ?').run(id);
  }

  /** Approved schedules that target any of the areas (by id) or the device directly. */
  approvedFor(deviceId: string, areaIds: string[]): Schedule[] {
    const placeholders = areaIds.map(() => '?').join(',') || "''";
    const rows = this.db
      .prepare(
        `SELECT DISTINCT s.* FROM schedules s JOIN schedule_targets t ON t.schedule_id = s.id
         WHERE s.status = 'approved' AND ((t.kind = 'device' AND t.target_id = ?) OR (t.kind = 'area' AND t.target_id IN (${placeholders})))
         ORDER BY s.start_at`,
      )
      .all(deviceId, ...areaIds) as Row[];
    return rows.map((r) => this.toSchedule(r));
  }
}
