/** Conditions devices raise and clear (amplifier link lost, board faults), kept as history. */
import type { DeviceEvent } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { iso } from '../time.js';

export interface StoredEvent extends Omit<DeviceEvent, 'v'> {
  deviceId: string;
}

type Row = { event_id: string; device_id: string; kind: DeviceEvent['kind']; code: string | null; active: number; detail: string | null; at: string };

export class DeviceEventRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  /** Idempotent by the device's event id (a resent event changes nothing). */
  insert(deviceId: string, e: DeviceEvent): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO device_events (event_id, device_id, kind, code, active, detail, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(e.eventId, deviceId, e.kind, e.code ?? null, e.active ? 1 : 0, e.detail ?? null, e.at, iso(this.now())).changes > 0
    );
  }

  list(deviceId: string, limit = 100): StoredEvent[] {
    const rows = this.db.prepare('SELECT * FROM device_events WHERE device_id = ? ORDER BY at DESC LIMIT ?').all(deviceId, limit) as Row[];
    return rows.map((r) => ({
      eventId: r.event_id,
      deviceId: r.device_id,
      kind: r.kind,
      active: r.active === 1,
      at: r.at,
      ...(r.code !== null ? { code: r.code } : {}),
      ...(r.detail !== null ? { detail: r.detail } : {}),
    }));
  }

  /** Conditions whose latest event is still active, per (kind, code). */
  active(deviceId: string): StoredEvent[] {
    const latest = new Map<string, StoredEvent>();
    for (const e of this.list(deviceId, 1000).reverse()) latest.set(`${e.kind}|${e.code ?? ''}`, e);
    return [...latest.values()].filter((e) => e.active);
  }
}
