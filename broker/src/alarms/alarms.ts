/**
 * Alarms: a condition on one device that a technician should see, raised and cleared by the
 * rules, acknowledged by a person, and kept as history. At most one alarm of a kind is active
 * on a device at a time (a unique index says so).
 */
import { EventEmitter } from 'node:events';
import { newId } from '@loalang/protocol';
import { sql, type Selectable } from 'kysely';
import type { Database } from '../store/database.js';
import { timeAndDeviceWhere, tuplesTable } from '../store/portable.js';
import type { AlarmsTable } from '../store/schema.js';
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

const toAlarm = (r: Selectable<AlarmsTable>): Alarm => ({ id: r.id, deviceId: r.device_id, kind: r.kind as AlarmKind, detail: r.detail, raisedAt: r.raised_at, clearedAt: r.cleared_at, ackedAt: r.acked_at, ackedBy: r.acked_by });

export type AlarmChange = { type: 'raised' | 'cleared'; alarm: Alarm };

/**
 * `change` is emitted once the write it reports has committed, and only by the call that made
 * it: raise and clear are single conditional statements, so when two processes (or two
 * messages) raise or clear the same alarm at once exactly one of them does it and says so.
 */
export class AlarmRepo extends EventEmitter<{ change: [AlarmChange] }> {
  constructor(private readonly db: Database) {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Raises `kind` on the device unless it is already active; returns the new alarm or null.
   * Atomic: the insert does nothing when the partial unique index `alarms_one_active` already
   * holds an active alarm of the kind (its predicate is part of the conflict target).
   */
  async raise(deviceId: string, kind: AlarmKind, detail: string | null, at: number): Promise<Alarm | null> {
    const row = await this.db
      .insertInto('alarms')
      .values({ id: newId(), device_id: deviceId, kind, detail: detail?.slice(0, 500) ?? null, raised_at: iso(at) })
      .onConflict((oc) => oc.columns(['device_id', 'kind']).where('cleared_at', 'is', null).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    const alarm = toAlarm(row);
    this.emit('change', { type: 'raised', alarm });
    return alarm;
  }

  /**
   * Clears the active alarm of `kind` on the device, if any. One conditional update (it was a
   * read of the active alarm's id, then an update by id): only the call that clears it gets it.
   */
  async clear(deviceId: string, kind: AlarmKind, at: number): Promise<Alarm | null> {
    const row = await this.db
      .updateTable('alarms')
      .set({ cleared_at: iso(at) })
      .where('device_id', '=', deviceId)
      .where('kind', '=', kind)
      .where('cleared_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    const alarm = toAlarm(row);
    this.emit('change', { type: 'cleared', alarm });
    return alarm;
  }

  /**
   * `clear` for many devices at once: one conditional UPDATE … FROM a table of (device, instant),
   * so a crowd of play reports clears its alarms with one statement (issue 16). One entry per
   * device; returns the alarms it cleared.
   */
  async clearMany(kind: AlarmKind, devices: ReadonlyMap<string, number>): Promise<Alarm[]> {
    if (devices.size === 0) return [];
    const wanted = tuplesTable(
      this.db,
      ['device_id', 'at'],
      [...devices].map(([deviceId, at]) => [deviceId, iso(at)]),
    );
    const { rows } = await sql<Selectable<AlarmsTable>>`
      UPDATE alarms SET cleared_at = w.at
      FROM (${wanted}) w
      WHERE alarms.device_id = w.device_id AND alarms.kind = ${kind} AND alarms.cleared_at IS NULL
      RETURNING alarms.id, alarms.device_id, alarms.kind, alarms.detail, alarms.raised_at, alarms.cleared_at, alarms.acked_at, alarms.acked_by`.execute(this.db);
    const alarms = rows.map(toAlarm);
    for (const alarm of alarms) this.emit('change', { type: 'cleared', alarm });
    return alarms;
  }

  async isActive(deviceId: string, kind: AlarmKind): Promise<boolean> {
    const row = await this.db.selectFrom('alarms').select('id').where('device_id', '=', deviceId).where('kind', '=', kind).where('cleared_at', 'is', null).executeTakeFirst();
    return row !== undefined;
  }

  /** The first acknowledgement stands (COALESCE in the update itself, so two at once keep one). */
  async acknowledge(id: string, userId: string, at: number): Promise<Alarm> {
    const row = await this.db
      .updateTable('alarms')
      .set((eb) => ({ acked_at: eb.fn.coalesce('acked_at', eb.val(iso(at))), acked_by: eb.fn.coalesce('acked_by', eb.val(userId)) }))
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound(id);
    return toAlarm(row);
  }

  async require(id: string): Promise<Alarm> {
    const row = await this.db.selectFrom('alarms').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(id);
    return toAlarm(row);
  }

  /** Active alarms by kind, every kind listed (metrics). */
  async activeByKind(): Promise<Record<AlarmKind, number>> {
    const counts = Object.fromEntries(ALARM_KINDS.map((k) => [k, 0])) as Record<AlarmKind, number>;
    const rows = await this.db.selectFrom('alarms').select((eb) => ['kind', eb.fn.countAll().as('n')]).where('cleared_at', 'is', null).groupBy('kind').execute();
    for (const r of rows) {
      if (r.kind in counts) counts[r.kind as AlarmKind] = Number(r.n);
    }
    return counts;
  }

  async query(q: AlarmQuery): Promise<Alarm[]> {
    let query = this.db.selectFrom('alarms').selectAll().where(timeAndDeviceWhere(this.db, 'raised_at', q));
    if (q.active !== undefined) query = query.where('cleared_at', q.active ? 'is' : 'is not', null);
    if (q.kind) query = query.where('kind', '=', q.kind);
    // Newest first; the id breaks ties so both databases give the same order.
    const rows = await query.orderBy('raised_at', 'desc').orderBy('id', 'desc').limit(q.limit ?? 1000).execute();
    return rows.map(toAlarm);
  }
}

const notFound = (id: string) => brokerError('LOA_ERR_NOT_FOUND', { en: `alarm ${id}`, vi: `cảnh báo kỹ thuật ${id}` });

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
