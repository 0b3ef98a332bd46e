/**
 * The device registry: identity, area, hashed MQTT secret, presence and latest health.
 * It is the MQTT layer's DeviceDirectory.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { isValidId, newId, type Telemetry } from '@loalang/protocol';
import { iso } from '../time.js';
import { hashSecret, randomSecret, verifySecret } from '../accounts/passwords.js';
import type { AreaRepo } from '../areas/areas.js';
import type { DeviceDirectory, DeviceIdentity } from '../mqtt/contracts.js';

export interface Device {
  id: string;
  name: string;
  areaId: string;
  disabled: boolean;
  online: boolean;
  lastSeenAt: string | null;
  agentVersion: string | null;
  reportedVersion: number | null;
  latestTelemetry: Telemetry | null;
  /** Where the speaker stands (WGS 84), for CAP polygons and circles and the map; null when unknown. */
  position: { lat: number; lon: number } | null;
  createdAt: string;
}

type Row = {
  id: string;
  name: string;
  area_id: string;
  secret_hash: string;
  disabled: number;
  online: number;
  last_seen_at: string | null;
  agent_version: string | null;
  latest_telemetry: string | null;
  reported_version: number | null;
  lat: number | null;
  lon: number | null;
  created_at: string;
};

const toDevice = (r: Row): Device => ({
  id: r.id,
  name: r.name,
  areaId: r.area_id,
  disabled: r.disabled === 1,
  online: r.online === 1,
  lastSeenAt: r.last_seen_at,
  agentVersion: r.agent_version,
  reportedVersion: r.reported_version,
  latestTelemetry: r.latest_telemetry ? (JSON.parse(r.latest_telemetry) as Telemetry) : null,
  position: r.lat !== null && r.lon !== null ? { lat: r.lat, lon: r.lon } : null,
  createdAt: r.created_at,
});

export class DeviceRepo implements DeviceDirectory {
  /**
   * After one argon2 check succeeds, an HMAC of the secret under a per-process key is kept,
   * so a reconnect storm of thousands of devices costs microseconds each, not 30 ms.
   */
  private readonly verified = new Map<string, Buffer>();
  private readonly cacheKey = randomBytes(32);

  constructor(
    private readonly db: Db,
    private readonly areas: AreaRepo,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): Device | null {
    const row = this.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as Row | undefined;
    return row ? toDevice(row) : null;
  }

  require(id: string): Device {
    const device = this.get(id);
    if (!device) throw brokerError('LOA_ERR_NOT_FOUND', { en: `device ${id}`, vi: `thiết bị ${id}` });
    return device;
  }

  /** Ids of the devices in these areas, without reading their health (cheap at 10k devices). */
  idsInAreas(areaIds: Set<string>): Set<string> {
    const rows = this.db.prepare('SELECT id, area_id FROM devices').all() as { id: string; area_id: string }[];
    return new Set(rows.filter((r) => areaIds.has(r.area_id)).map((r) => r.id));
  }

  /** When each device in these areas was added (ms), by id: a play counts only the devices there when it started. */
  addedAtInAreas(areaIds: Set<string>): Map<string, number> {
    const rows = this.db.prepare('SELECT id, area_id, created_at FROM devices').all() as { id: string; area_id: string; created_at: string }[];
    return new Map(rows.filter((r) => areaIds.has(r.area_id)).map((r) => [r.id, Date.parse(r.created_at)]));
  }

  /** Enabled devices by presence (metrics). */
  countByPresence(): { online: number; offline: number } {
    const rows = this.db.prepare('SELECT online, COUNT(*) AS n FROM devices WHERE disabled = 0 GROUP BY online').all() as { online: number; n: number }[];
    return { online: rows.find((r) => r.online === 1)?.n ?? 0, offline: rows.find((r) => r.online === 0)?.n ?? 0 };
  }

  list(filter: { areaIds?: Set<string> } = {}): Device[] {
    const rows = this.db.prepare('SELECT * FROM devices ORDER BY name').all() as Row[];
    return rows.filter((r) => !filter.areaIds || filter.areaIds.has(r.area_id)).map(toDevice);
  }

  /**
   * One page of devices in the given areas, filtered in SQL so it stays fast with 10,000:
   * by presence, by having an active alarm, by a name fragment. Sorted by name.
   */
  page(f: { areaIds: Set<string>; online?: boolean; alarm?: boolean; name?: string; limit: number; offset: number }): { total: number; devices: (Device & { activeAlarms: number })[] } {
    // A province-wide caller needs no area condition at all.
    const everywhere = f.areaIds.size >= (this.db.prepare('SELECT COUNT(*) AS n FROM areas').get() as { n: number }).n;
    const where = [everywhere ? '1' : 'd.area_id IN (SELECT value FROM json_each(@areas))'];
    if (f.online !== undefined) where.push('d.online = @online');
    if (f.alarm !== undefined) where.push(`d.id ${f.alarm ? '' : 'NOT '}IN (SELECT device_id FROM alarms WHERE cleared_at IS NULL)`);
    if (f.name) where.push("d.name LIKE @name ESCAPE '\\'");
    const params = {
      areas: JSON.stringify([...f.areaIds]),
      online: f.online ? 1 : 0,
      name: `%${(f.name ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
      limit: f.limit,
      offset: f.offset,
    };
    const clause = where.join(' AND ');
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM devices d WHERE ${clause}`).get(params) as { n: number }).n;
    // Few devices (a commune): find them by area, then sort. Many (a province): walk the name
    // index and stop at the page; sorting 10,000 rows for every page cost 10–30 ms.
    const byName = total > 2000 || f.areaIds.size > 50 ? 'INDEXED BY devices_name' : '';
    const rows = this.db
      .prepare(
        `SELECT d.*, (SELECT COUNT(*) FROM alarms a WHERE a.device_id = d.id AND a.cleared_at IS NULL) AS active_alarms
         FROM devices d ${byName} WHERE ${clause} ORDER BY d.name, d.id LIMIT @limit OFFSET @offset`,
      )
      .all(params) as (Row & { active_alarms: number })[];
    return { total, devices: rows.map((r) => ({ ...toDevice(r), activeAlarms: r.active_alarms })) };
  }

  /** Ids of the enabled devices in the given areas' subtrees plus the named ones, in one query (an alert to 10k speakers). */
  resolveTargetIds(areaIds: string[], deviceIds: string[]): string[] {
    const rows = this.db
      .prepare(
        `WITH RECURSIVE sub(id) AS (SELECT value FROM json_each(@areas) UNION SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id)
         SELECT id FROM devices WHERE disabled = 0 AND (area_id IN (SELECT id FROM sub) OR id IN (SELECT value FROM json_each(@devices)))`,
      )
      .all({ areas: JSON.stringify(areaIds), devices: JSON.stringify(deviceIds) }) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** The enabled devices that sit in any of the given areas' subtrees, plus the named ones (see resolveTargetIds). */
  resolveTargets(areaIds: string[], deviceIds: string[]): Device[] {
    const ids = new Set(this.resolveTargetIds(areaIds, deviceIds));
    return this.list().filter((d) => ids.has(d.id));
  }

  /** Creates a device and returns its secret, which is never stored in clear and never shown again. */
  async create(input: { name: string; areaId: string }): Promise<{ device: Device; secret: string }> {
    this.areas.require(input.areaId);
    const secret = randomSecret(24);
    const id = newId();
    const now = iso(this.now());
    this.db
      .prepare('INSERT INTO devices (id, name, area_id, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, input.name, input.areaId, await hashSecret(secret), now);
    return { device: this.require(id), secret };
  }

  update(id: string, patch: { name?: string; areaId?: string; disabled?: boolean; position?: { lat: number; lon: number } | null }): Device {
    const current = this.require(id);
    if (patch.areaId) this.areas.require(patch.areaId);
    const next = { ...current, ...patch };
    this.db
      .prepare('UPDATE devices SET name = ?, area_id = ?, disabled = ?, lat = ?, lon = ? WHERE id = ?')
      .run(next.name, next.areaId, next.disabled ? 1 : 0, next.position?.lat ?? null, next.position?.lon ?? null, id);
    if (patch.disabled || patch.areaId) this.verified.delete(id);
    return this.require(id);
  }

  async rotateSecret(id: string): Promise<string> {
    this.require(id);
    const secret = randomSecret(24);
    this.db.prepare('UPDATE devices SET secret_hash = ? WHERE id = ?').run(await hashSecret(secret), id);
    this.verified.delete(id);
    return secret;
  }

  delete(id: string): void {
    this.require(id);
    this.db.prepare('DELETE FROM devices WHERE id = ?').run(id);
    this.verified.delete(id);
  }

  async verify(username: string, password: Buffer): Promise<DeviceIdentity | null> {
    if (!isValidId(username) || password.length === 0 || password.length > 256) return null;
    const row = this.db.prepare('SELECT * FROM devices WHERE id = ?').get(username) as Row | undefined;
    if (!row || row.disabled === 1) return null;
    const mac = createHmac('sha256', this.cacheKey).update(password).digest();
    const known = this.verified.get(username);
    const ok = known ? timingSafeEqual(known, mac) : await verifySecret(row.secret_hash, password.toString('utf8'));
    if (!ok) return null;
    this.verified.set(username, mac);
    return { deviceId: row.id, areaIds: this.areas.ancestorIds(row.area_id) };
  }

  setPresence(id: string, online: boolean, cause: string, at: number): void {
    const when = iso(at);
    const tx = this.db.transaction(() => {
      const changed = this.db
        .prepare('UPDATE devices SET online = ?, last_seen_at = ? WHERE id = ? AND online != ?')
        .run(online ? 1 : 0, when, id, online ? 1 : 0).changes;
      if (changed > 0) {
        this.db.prepare('INSERT INTO presence_history (device_id, online, cause, at) VALUES (?, ?, ?, ?)').run(id, online ? 1 : 0, cause, when);
      }
    });
    tx();
  }

  /** At server start nobody is connected yet, whatever the last run left behind. */
  markAllOffline(cause: string, at: number): void {
    const ids = (this.db.prepare('SELECT id FROM devices WHERE online = 1').all() as { id: string }[]).map((r) => r.id);
    for (const id of ids) this.setPresence(id, false, cause, at);
  }

  recordTelemetry(id: string, telemetry: Telemetry): void {
    this.db
      .prepare('UPDATE devices SET latest_telemetry = ?, agent_version = ?, last_seen_at = ? WHERE id = ?')
      .run(JSON.stringify(telemetry), telemetry.agentVersion, iso(this.now()), id);
  }

  recordReported(id: string, version: number, agentVersion: string | undefined): void {
    this.db
      .prepare('UPDATE devices SET reported_version = ?, agent_version = COALESCE(?, agent_version) WHERE id = ?')
      .run(version, agentVersion ?? null, id);
  }

  /** Enabled devices, seen at least once, offline since before `before`. */
  offlineSince(before: number): { id: string; since: string }[] {
    return this.db
      .prepare('SELECT id, last_seen_at AS since FROM devices WHERE online = 0 AND disabled = 0 AND last_seen_at IS NOT NULL AND last_seen_at < ?')
      .all(iso(before)) as { id: string; since: string }[];
  }

  presenceHistory(id: string, limit = 100): { online: boolean; cause: string; at: string }[] {
    const rows = this.db
      .prepare('SELECT online, cause, at FROM presence_history WHERE device_id = ? ORDER BY id DESC LIMIT ?')
      .all(id, limit) as { online: number; cause: string; at: string }[];
    return rows.map((r) => ({ online: r.online === 1, cause: r.cause, at: r.at }));
  }
}
