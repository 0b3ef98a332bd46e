/** Conditions devices raise and clear (amplifier link lost, board faults), kept as history. */
import type { DeviceEvent } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { iso } from '../time.js';

export interface StoredEvent extends Omit<DeviceEvent, 'v'> {
  deviceId: string;
}

export class DeviceEventRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  /**
   * Idempotent by the device's event id (a resent event changes nothing): the event id is the
   * key and a duplicate does nothing, so of two copies handled at once exactly one returns true.
   */
  async insert(deviceId: string, e: DeviceEvent): Promise<boolean> {
    const { numInsertedOrUpdatedRows } = await this.db
      .insertInto('device_events')
      .values({ event_id: e.eventId, device_id: deviceId, kind: e.kind, code: e.code ?? null, active: e.active ? 1 : 0, detail: e.detail ?? null, at: e.at, received_at: iso(this.now()) })
      .onConflict((oc) => oc.column('event_id').doNothing())
      .executeTakeFirst();
    return (numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async list(deviceId: string, limit = 100): Promise<StoredEvent[]> {
    const rows = await this.db
      .selectFrom('device_events')
      .selectAll()
      .where('device_id', '=', deviceId)
      // Ties on the device's time: the later arrival first, then a fixed order.
      .orderBy('at', 'desc')
      .orderBy('received_at', 'desc')
      .orderBy('event_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      eventId: r.event_id,
      deviceId: r.device_id,
      kind: r.kind as DeviceEvent['kind'],
      active: r.active === 1,
      at: r.at,
      ...(r.code !== null ? { code: r.code } : {}),
      ...(r.detail !== null ? { detail: r.detail } : {}),
    }));
  }

  /** Conditions whose latest event is still active, per (kind, code). */
  async active(deviceId: string): Promise<StoredEvent[]> {
    const latest = new Map<string, StoredEvent>();
    for (const e of (await this.list(deviceId, 1000)).reverse()) latest.set(`${e.kind}|${e.code ?? ''}`, e);
    return [...latest.values()].filter((e) => e.active);
  }
}
