/**
 * Alarms: a condition on one device that a technician should see, raised and cleared by the
 * rules, acknowledged by a person, and kept as history. At most one alarm of a kind is active
 * on a device at a time (a unique index says so).
 */
import { EventEmitter } from 'node:events';
import { newId } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { timeAndDeviceFilters } from '../store/list-filters.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';

export const ALARM_KINDS = [
  'offline',
  'amp-link',
  'over-temperature',
  'speaker-line',
  'mains-lost',
  'tamper',
  'failsafe-off',
  'amp-fault',
  'clock-offset',
  'disk-full',
  'play-failures',
  'programme',
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

export interface Alarm {
  id: string;
  deviceId: string;
  kind: AlarmKind;
  detail: string | null;
  raisedAt: string;
  clearedAt: string | null;
  ackedAt: string | null;
  ackedBy: string | null;
}

export interface AlarmQuery {
  active?: boolean;
  deviceIds?: Set<string>;
  kind?: AlarmKind;
  from?: string;
  to?: string;
  limit?: number;
}

type Row = { id: string; device_id: string; kind: AlarmKind; detail: string | null; raised_at: string; cleared_at: string | null; acked_at: string | null; acked_by: string | null };
const toAlarm = (r: Row): Alarm => ({ id: r.id, deviceId: r.device_id, kind: r.kind, detail: r.detail, raisedAt: r.raised_at, clearedAt: r.cleared_at, ackedAt: r.acked_at, ackedBy: r.acked_by });

export type AlarmChange = { type: 'raised' | 'cleared'; alarm: Alarm };

export class AlarmRepo extends EventEmitter<{ change: [AlarmChange] }> {
  constructor(private readonly db: Db) {
    super();
    this.setMaxListeners(0);
  }

  /** Raises `kind` on the device unless it is already active; returns the new alarm or null. */
  raise(deviceId: string, kind: AlarmKind, detail: string | null, at: number): Alarm | null {
    const id = newId();
    const changes = this.db
      .prepare('INSERT OR IGNORE INTO alarms (id, device_id, kind, detail, raised_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, deviceId, kind, detail?.slice(0, 500) ?? null, iso(at)).changes;
    if (changes === 0) return null;
    const alarm = this.require(id);
    this.emit('change', { type: 'raised', alarm });
    return alarm;
  }

  /** Clears the active alarm of `kind` on the device, if any. */
  clear(deviceId: string, kind: AlarmKind, at: number): Alarm | null {
    const row = this.db.prepare('SELECT id FROM alarms WHERE device_id = ? AND kind = ? AND cleared_at IS NULL').get(deviceId, kind) as { id: string } | undefined;
    if (!row) return null;
    this.db.prepare('UPDATE alarms SET cleared_at = ? WHERE id = ?').run(iso(at), row.id);
    const alarm = this.require(row.id);
    this.emit('change', { type: 'cleared', alarm });
    return alarm;
  }

  isActive(deviceId: string, kind: AlarmKind): boolean {
    return this.db.prepare('SELECT 1 FROM alarms WHERE device_id = ? AND kind = ? AND cleared_at IS NULL').get(deviceId, kind) !== undefined;
  }

  acknowledge(id: string, userId: string, at: number): Alarm {
    this.require(id);
    this.db.prepare('UPDATE alarms SET acked_at = COALESCE(acked_at, ?), acked_by = COALESCE(acked_by, ?) WHERE id = ?').run(iso(at), userId, id);
    return this.require(id);
  }

  require(id: string): Alarm {
    const row = this.db.prepare('SELECT * FROM alarms WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw brokerError('LOA_ERR_NOT_FOUND', { en: `alarm ${id}`, vi: `cảnh báo kỹ thuật ${id}` });
    return toAlarm(row);
  }

  /** Active alarms by kind, every kind listed (metrics). */
  activeByKind(): Record<AlarmKind, number> {
    const counts = Object.fromEntries(ALARM_KINDS.map((k) => [k, 0])) as Record<AlarmKind, number>;
    for (const r of this.db.prepare('SELECT kind, COUNT(*) AS n FROM alarms WHERE cleared_at IS NULL GROUP BY kind').all() as { kind: AlarmKind; n: number }[]) {
      if (r.kind in counts) counts[r.kind] = r.n;
    }
    return counts;
  }

  query(q: AlarmQuery): Alarm[] {
    const { where, params } = timeAndDeviceFilters('raised_at', q);
    if (q.active !== undefined) where.push(q.active ? 'cleared_at IS NULL' : 'cleared_at IS NOT NULL');
    if (q.kind) {
      where.push('kind = ?');
      params.push(q.kind);
    }
    const sql = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY raised_at DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit ?? 1000) as Row[]).map(toAlarm);
  }
}

/** An alarm as people read it: its label in both languages and the device's name (API and live stream). */
export function describeAlarm(alarm: Alarm, deviceName: string) {
  return { ...alarm, label: ALARM_LABELS[alarm.kind].en, labelVi: ALARM_LABELS[alarm.kind].vi, deviceName };
}

/** What each alarm means, for people: Vietnamese first. */
export const ALARM_LABELS: Record<AlarmKind, { vi: string; en: string }> = {
  offline: { vi: 'Mất kết nối', en: 'Offline' },
  'amp-link': { vi: 'Mất kết nối bo mạch khuếch đại', en: 'Amplifier board link lost' },
  'over-temperature': { vi: 'Bộ khuếch đại quá nhiệt', en: 'Amplifier over-temperature' },
  'speaker-line': { vi: 'Lỗi đường dây loa', en: 'Speaker line fault' },
  'mains-lost': { vi: 'Mất điện lưới', en: 'Mains power lost' },
  tamper: { vi: 'Tủ thiết bị bị mở', en: 'Cabinet opened (tamper)' },
  'failsafe-off': { vi: 'Bộ khuếch đại tự tắt an toàn', en: 'Amplifier switched off by its failsafe' },
  'amp-fault': { vi: 'Lỗi bộ khuếch đại', en: 'Amplifier fault' },
  'clock-offset': { vi: 'Đồng hồ thiết bị bị lệch', en: 'Device clock offset' },
  'disk-full': { vi: 'Bộ nhớ thiết bị sắp đầy', en: 'Device disk nearly full' },
  'play-failures': { vi: 'Phát thất bại nhiều lần', en: 'Repeated play failures' },
  programme: { vi: 'Lịch phát không đến được loa', en: 'Programme not delivered to the speaker' },
};
