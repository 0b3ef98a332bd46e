/**
 * The device registry: identity, area, hashed MQTT secret, presence and latest health.
 * It is the MQTT layer's DeviceDirectory.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { isDatabaseUnavailable, type Database } from '../store/database.js';
import { allOf, containsText, dialectOf, inList, valuesTable } from '../store/portable.js';
import { brokerError } from '../errors.js';
import { isValidId, newId, type Telemetry } from '@loalang/protocol';
import { iso } from '../time.js';
import { hashSecret, randomSecret, verifySecret } from '../accounts/passwords.js';
import { subtreeCte, type AreaRepo } from '../areas/areas.js';
import type { DeviceDirectory, DeviceIdentity } from '../mqtt/contracts.js';
import { PresenceWriter } from './presence-writes.js';
import { TurnBatch } from '../turn-batch.js';

/**
 * Areas in a device-list query up to which it is "a few communes": their devices are found by
 * area and then sorted; above it, the name index is walked (SQLite), and the set may be the
 * whole tree (then no area condition at all).
 */
const SMALL_AREA_SET = 50;

/** The most devices whose credentials are read in one statement. */
const AUTH_BATCH = 500;

/** A device's row as checking its credentials needs it, with its area and the areas above. */
interface AuthRow {
  id: string;
  area_id: string;
  secret_hash: string;
  disabled: number;
  auth_mac: string | null;
  areaIds: string[];
}

export interface Device {
  id: string;
  name: string;
  areaId: string;
  disabled: boolean;
  online: boolean;
  lastSeenAt: string | null;
  agentVersion: string | null;
  /** The box's CPU (x64, arm64) as it last said; null until it has. */
  agentArch: string | null;
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
  agent_arch: string | null;
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
  agentArch: r.agent_arch,
  reportedVersion: r.reported_version,
  latestTelemetry: r.latest_telemetry ? (JSON.parse(r.latest_telemetry) as Telemetry) : null,
  position: r.lat !== null && r.lon !== null ? { lat: r.lat, lon: r.lon } : null,
  createdAt: r.created_at,
});

export class DeviceRepo implements DeviceDirectory {
  /**
   * After one argon2 check succeeds, an HMAC of the secret is kept, so a reconnect storm of
   * thousands of devices costs microseconds each, not 30 ms: in this process (`verified`, which
   * also lets a known device reconnect while the database is away), and in the device's row
   * (`auth_mac`), where every node of a cluster, sharing the key, can check it (issue 17).
   */
  private readonly verified = new Map<string, { mac: Buffer; hash: string; identity: DeviceIdentity }>();
  private readonly presence: PresenceWriter;
  private readonly authRows = new TurnBatch<string, AuthRow | null>((ids) => this.readAuthRows(ids), AUTH_BATCH);

  constructor(
    private readonly db: Database,
    private readonly areas: AreaRepo,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
    /** The key of the device-authentication MACs: derived from the cluster secret on a cluster, else kept in the data folder (auth-key.ts); random by default (tests). */
    private readonly authKey: Buffer = randomBytes(32),
    /** The server node this process is (issue 17): presence records which node holds a device. */
    readonly nodeId: string | null = null,
  ) {
    this.presence = new PresenceWriter(db, nodeId);
  }

  async get(id: string): Promise<Device | null> {
    const row = await this.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toDevice(row) : null;
  }

  async require(id: string): Promise<Device> {
    const device = await this.get(id);
    if (!device) throw brokerError('LOA_ERR_NOT_FOUND', { en: `device ${id}`, vi: `thiết bị ${id}` });
    return device;
  }

  /** Ids of the devices in these areas, without reading their health (cheap at 10k devices). */
  async idsInAreas(areaIds: Set<string>): Promise<Set<string>> {
    const rows = await this.db.selectFrom('devices').select(['id', 'area_id']).execute();
    return new Set(rows.filter((r) => areaIds.has(r.area_id)).map((r) => r.id));
  }

  /** When each device in these areas was added (ms), by id: a play counts only the devices there when it started. */
  async addedAtInAreas(areaIds: Set<string>): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('devices').select(['id', 'area_id', 'created_at']).execute();
    return new Map(rows.filter((r) => areaIds.has(r.area_id)).map((r) => [r.id, Date.parse(r.created_at)]));
  }

  /** Enabled devices by presence (metrics). */
  async countByPresence(): Promise<{ online: number; offline: number }> {
    const rows = await this.db.selectFrom('devices').select(['online', (eb) => eb.fn.countAll().as('n')]).where('disabled', '=', 0).groupBy('online').execute();
    const count = (online: number) => Number(rows.find((r) => r.online === online)?.n ?? 0);
    return { online: count(1), offline: count(0) };
  }

  async list(filter: { areaIds?: Set<string> } = {}): Promise<Device[]> {
    const rows = await this.db.selectFrom('devices').selectAll().orderBy('name').orderBy('id').execute();
    return rows.filter((r) => !filter.areaIds || filter.areaIds.has(r.area_id)).map(toDevice);
  }

  /**
   * One page of devices in the given areas, filtered in SQL so it stays fast with 10,000:
   * by presence, by having an active alarm, by a name fragment. Sorted by name.
   */
  async page(f: { areaIds: Set<string>; everywhere?: boolean; online?: boolean; alarm?: boolean; name?: string; limit: number; offset: number }): Promise<{ total: number; devices: (Device & { activeAlarms: number })[] }> {
    // A province-wide caller needs no area condition at all. Leaving it out pays only for a
    // large set of areas; a small set keeps its condition (right either way), which spares the
    // request counting the areas. `everywhere` is the caller's word that areaIds are all there
    // are (read with its scope); without it, the areas are counted here.
    const everywhere = f.everywhere ?? (f.areaIds.size > SMALL_AREA_SET && f.areaIds.size >= Number((await this.db.selectFrom('areas').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n));
    const where: RawBuilder<SqlBool>[] = [];
    if (!everywhere) where.push(inList(this.db, 'd.area_id', f.areaIds));
    if (f.online !== undefined) where.push(sql<SqlBool>`d.online = ${f.online ? 1 : 0}`);
    if (f.alarm !== undefined) where.push(sql<SqlBool>`d.id ${sql.raw(f.alarm ? '' : 'NOT ')}IN (SELECT device_id FROM alarms WHERE cleared_at IS NULL)`);
    if (f.name) where.push(containsText('d.name', f.name));
    const clause = allOf(where);
    const count = async () => Number((await sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM devices d WHERE ${clause}`.execute(this.db)).rows[0]?.n ?? 0);
    // Active alarms are counted for the page's rows only: counted in the sorted set, PostgreSQL ran
    // the count for all 10,000 devices of a province before skipping to page 50 (p50 12 s at 100/s).
    const page = async (hint: RawBuilder<unknown>) =>
      (
        await sql<Row & { active_alarms: number | string }>`SELECT p.*, (SELECT COUNT(*) FROM alarms a WHERE a.device_id = p.id AND a.cleared_at IS NULL) AS active_alarms
         FROM (SELECT d.* FROM devices d ${hint} WHERE ${clause} ORDER BY d.name, d.id LIMIT ${f.limit} OFFSET ${f.offset}) p ORDER BY p.name, p.id`.execute(this.db)
      ).rows;
    let total: number;
    let rows: (Row & { active_alarms: number | string })[];
    if (dialectOf(this.db) === 'sqlite') {
      // Few devices (a commune): find them by area, then sort. Many (a province): walk the name
      // index and stop at the page; sorting 10,000 rows for every page cost 10–30 ms on SQLite.
      total = await count();
      rows = await page(total > 2000 || f.areaIds.size > SMALL_AREA_SET ? sql.raw('INDEXED BY devices_name') : sql.raw(''));
    } else {
      // PostgreSQL's planner makes that choice itself, and the two queries go on two of the pool's
      // connections at once: one round trip less in every request's time.
      [total, rows] = await Promise.all([count(), page(sql.raw(''))]);
    }
    return { total, devices: rows.map((r) => ({ ...toDevice(r), activeAlarms: Number(r.active_alarms) })) };
  }

  /** Ids of the enabled devices in the given areas' subtrees plus the named ones, in one query (an alert to 10k speakers). */
  async resolveTargetIds(areaIds: string[], deviceIds: string[]): Promise<string[]> {
    const { rows } = await sql<{ id: string }>`WITH RECURSIVE ${subtreeCte(valuesTable(this.db, areaIds), true)}
         SELECT id FROM devices WHERE disabled = 0 AND (area_id IN (SELECT id FROM sub) OR ${inList(this.db, 'id', deviceIds)})`.execute(this.db);
    return rows.map((r) => r.id);
  }

  /** The enabled devices that sit in any of the given areas' subtrees, plus the named ones (see resolveTargetIds). */
  async resolveTargets(areaIds: string[], deviceIds: string[]): Promise<Device[]> {
    const ids = new Set(await this.resolveTargetIds(areaIds, deviceIds));
    return (await this.list()).filter((d) => ids.has(d.id));
  }

  /** Creates a device and returns its secret, which is never stored in clear and never shown again. */
  async create(input: { name: string; areaId: string }): Promise<{ device: Device; secret: string }> {
    await this.areas.require(input.areaId);
    const secret = randomSecret(24);
    const id = newId();
    const now = iso(this.now());
    await this.db
      .insertInto('devices')
      .values({ id, name: input.name, area_id: input.areaId, secret_hash: await hashSecret(secret), created_at: now })
      .execute();
    return { device: await this.require(id), secret };
  }

  async update(id: string, patch: { name?: string; areaId?: string; disabled?: boolean; position?: { lat: number; lon: number } | null }): Promise<Device> {
    const current = await this.require(id);
    if (patch.areaId) await this.areas.require(patch.areaId);
    const next = { ...current, ...patch };
    await this.db
      .updateTable('devices')
      .set({ name: next.name, area_id: next.areaId, disabled: next.disabled ? 1 : 0, lat: next.position?.lat ?? null, lon: next.position?.lon ?? null })
      .where('id', '=', id)
      .execute();
    if (patch.disabled || patch.areaId) this.verified.delete(id);
    return this.require(id);
  }

  async rotateSecret(id: string): Promise<string> {
    await this.require(id);
    const secret = randomSecret(24);
    await this.db.updateTable('devices').set({ secret_hash: await hashSecret(secret), auth_mac: null }).where('id', '=', id).execute();
    this.verified.delete(id);
    return secret;
  }

  async delete(id: string): Promise<void> {
    await this.require(id);
    await this.db.deleteFrom('devices').where('id', '=', id).execute();
    this.verified.delete(id);
  }

  async verify(username: string, password: Buffer): Promise<DeviceIdentity | null> {
    if (!isValidId(username) || password.length === 0 || password.length > 256) return null;
    const known = this.verified.get(username);
    let row;
    try {
      row = await this.authRows.add(username);
    } catch (err) {
      // The database is away (issue 16): a device this process already verified, with the same
      // secret, may reconnect and keep its programme; anyone else waits until it is back.
      if (known && isDatabaseUnavailable(err) && timingSafeEqual(known.mac, this.authMac(username, known.hash, password))) return known.identity;
      throw err;
    }
    if (!row || row.disabled === 1) return null;
    // Bound to the stored hash: a new secret (re-keying) makes every earlier MAC worthless.
    const mac = this.authMac(row.id, row.secret_hash, password);
    const stored = row.auth_mac ? Buffer.from(row.auth_mac, 'hex') : null;
    const cheap = stored !== null && stored.length === mac.length && timingSafeEqual(stored, mac);
    if (!cheap && !(await verifySecret(row.secret_hash, password.toString('utf8')))) return null;
    if (!cheap) await this.db.updateTable('devices').set({ auth_mac: mac.toString('hex') }).where('id', '=', row.id).where('secret_hash', '=', row.secret_hash).execute();
    const identity = { deviceId: row.id, areaIds: row.areaIds };
    this.verified.set(username, { mac, hash: row.secret_hash, identity });
    return identity;
  }

  /**
   * What checking devices' credentials needs, for the logins of one turn at once (at most
   * AUTH_BATCH): two statements, not two per device, so a reconnect storm's logins do not queue
   * for the pool behind each other (issue 17).
   */
  private async readAuthRows(ids: readonly string[]): Promise<(AuthRow | null)[]> {
    const rows = await this.db.selectFrom('devices').select(['id', 'area_id', 'secret_hash', 'disabled', 'auth_mac']).where(inList(this.db, 'id', new Set(ids))).execute();
    const chains = await this.areas.ancestorIdsOfMany(rows.map((r) => r.area_id));
    const byId = new Map(rows.map((r) => [r.id, { ...r, areaIds: chains.get(r.area_id) ?? [r.area_id] }]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  private authMac(deviceId: string, secretHash: string, password: Buffer): Buffer {
    return createHmac('sha256', this.authKey).update(`${deviceId}\0${secretHash}\0`).update(password).digest();
  }

  /**
   * Records a change of presence once: decided under the device row's lock (PostgreSQL), so two
   * nodes cannot both log it. Online names this node as the device's; only the node holding a device (or any
   * node, for a device no node holds) may record it offline, so the late disconnect of a
   * connection the device left for another node changes nothing; and a node takes a device
   * another node holds only with a newer connection (`at` on the database server's clock, for a
   * node of a cluster), so the late connect of such a connection changes nothing either.
   */
  setPresence(id: string, online: boolean, cause: string, at: number): Promise<boolean> {
    // Changes of one turn are written together (a reconnect storm: presence-writes.ts).
    return this.presence.write(id, online, cause, at);
  }

  /**
   * Devices nobody is connected to any more: at server start, every device (a single server)
   * or this node's (a node of a cluster); when a node died, the devices it held (`node`).
   * Returns the ids recorded offline.
   */
  async markAllOffline(cause: string, at: number, node: string | null = this.nodeId, everyNode = this.nodeId === null): Promise<string[]> {
    let query = this.db.selectFrom('devices').select('id').where('online', '=', 1);
    if (!everyNode) query = query.where((eb) => eb.or([eb('node_id', 'is', null), eb('node_id', '=', node)]));
    const rows = await query.execute();
    const when = iso(at);
    const gone: string[] = [];
    for (const { id } of rows) {
      const changed = await this.db.transaction().execute(async (trx) => {
        let update = trx.updateTable('devices').set({ online: 0, last_seen_at: when }).where('id', '=', id).where('online', '=', 1);
        if (!everyNode) update = update.where((eb) => eb.or([eb('node_id', 'is', null), eb('node_id', '=', node)]));
        const r = await update.executeTakeFirst();
        if (r.numUpdatedRows > 0n) await trx.insertInto('presence_history').values({ device_id: id, online: 0, cause, at: when }).execute();
        return r.numUpdatedRows > 0n;
      });
      if (changed) gone.push(id);
    }
    return gone;
  }

  /**
   * This node's online devices whose last reported programme is older than the one they were
   * given (or never reported): after Redis was away, a change made on another node may not have
   * reached them.
   */
  async behindHere(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('devices as d')
      .innerJoin('device_desired as dd', 'dd.device_id', 'd.id')
      .select('d.id')
      .where('d.online', '=', 1)
      .where((eb) => (this.nodeId === null ? eb('d.node_id', 'is', null) : eb('d.node_id', '=', this.nodeId)))
      .where((eb) => eb.or([eb('d.reported_version', 'is', null), eb('d.reported_version', '<', eb.ref('dd.version'))]))
      .execute();
    return rows.map((r) => r.id);
  }

  /** Devices online through another node than this one, with that node (a cluster's presence at start). */
  async onlineElsewhere(): Promise<{ id: string; node: string }[]> {
    const rows = await this.db.selectFrom('devices').select(['id', 'node_id']).where('online', '=', 1).where('node_id', 'is not', null).where('node_id', '!=', this.nodeId ?? '').execute();
    return rows.map((r) => ({ id: r.id, node: r.node_id as string }));
  }

  async recordTelemetry(id: string, telemetry: Telemetry): Promise<void> {
    await this.db
      .updateTable('devices')
      .set({ latest_telemetry: JSON.stringify(telemetry), agent_version: telemetry.agentVersion, last_seen_at: iso(this.now()) })
      .where('id', '=', id)
      .execute();
  }

  async recordReported(id: string, version: number, agentVersion: string | undefined, arch?: string): Promise<void> {
    await this.db
      .updateTable('devices')
      .set((eb) => ({ reported_version: version, agent_version: agentVersion ?? eb.ref('agent_version'), agent_arch: arch ?? eb.ref('agent_arch') }))
      .where('id', '=', id)
      .execute();
  }

  /** The CPU of each of `ids` that has said it (devices that have not are left out). */
  async archsOf(ids: readonly string[]): Promise<Map<string, string>> {
    const archs = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('devices').select(['id', 'agent_arch']).where('id', 'in', ids.slice(i, i + 500)).where('agent_arch', 'is not', null).execute();
      for (const r of rows) archs.set(r.id, r.agent_arch!);
    }
    return archs;
  }

  /** Enabled devices, seen at least once, offline since before `before`. */
  async offlineSince(before: number): Promise<{ id: string; since: string }[]> {
    const rows = await this.db
      .selectFrom('devices')
      .select(['id', 'last_seen_at'])
      .where('online', '=', 0)
      .where('disabled', '=', 0)
      .where('last_seen_at', 'is not', null)
      .where('last_seen_at', '<', iso(before))
      .execute();
    return rows.map((r) => ({ id: r.id, since: r.last_seen_at as string }));
  }

  async presenceHistory(id: string, limit = 100): Promise<{ online: boolean; cause: string; at: string }[]> {
    const rows = await this.db.selectFrom('presence_history').select(['online', 'cause', 'at']).where('device_id', '=', id).orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({ online: r.online === 1, cause: r.cause, at: r.at }));
  }
}
