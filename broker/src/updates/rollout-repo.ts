/**
 * Agent releases and their rollouts in the store (issue 20): the releases uploaded, each rollout
 * (its targets, waves, threshold and state), and each device's state in it.
 */
import type { Selectable } from 'kysely';
import type { UpdateDeviceState } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { ReleasesTable, RolloutsTable } from '../store/schema.js';
import { brokerError } from '../errors.js';

export interface Release {
  id: string;
  version: string;
  arch: string;
  nodeAbi: string | null;
  minPreviousVersion: string;
  sha256: string;
  sizeBytes: number;
  files: number;
  signedBy: string;
  uploadedBy: string | null;
  createdAt: string;
}

export type RolloutState = RolloutsTable['state'];

export interface Rollout {
  id: string;
  releaseId: string;
  areaIds: string[];
  deviceIds: string[];
  /** Cumulative percentages of the rollout's devices, e.g. [1, 10, 100]. */
  waves: number[];
  /** The fraction of a wave's devices that may fail before the rollout halts. */
  failureThreshold: number;
  confirmWithinMs: number;
  state: RolloutState;
  /** The wave under way (0-based). */
  wave: number;
  haltReason: string | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
}

export interface RolloutDevice {
  deviceId: string;
  wave: number;
  state: UpdateDeviceState;
  reason: string | null;
  offeredAt: string | null;
  updatedAt: string;
}

/** A device's place in a rollout, with the rollout's state and the version it brings. */
export interface DeviceUpdate extends Omit<RolloutDevice, 'deviceId'> {
  rolloutId: string;
  rolloutState: RolloutState;
  releaseId: string;
  version: string;
}

const toRelease = (r: Selectable<ReleasesTable>): Release => ({
  id: r.id,
  version: r.version,
  arch: r.arch,
  nodeAbi: r.node_abi,
  minPreviousVersion: r.min_previous_version,
  sha256: r.sha256,
  sizeBytes: Number(r.size_bytes),
  files: Number(r.files),
  signedBy: r.signed_by,
  uploadedBy: r.uploaded_by,
  createdAt: r.created_at,
});

const toRollout = (r: Selectable<RolloutsTable>): Rollout => ({
  id: r.id,
  releaseId: r.release_id,
  areaIds: JSON.parse(r.area_ids_json) as string[],
  deviceIds: JSON.parse(r.device_ids_json) as string[],
  waves: JSON.parse(r.waves_json) as number[],
  failureThreshold: Number(r.failure_threshold),
  confirmWithinMs: Number(r.confirm_within_ms),
  state: r.state,
  wave: Number(r.wave),
  haltReason: r.halt_reason,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  endedAt: r.ended_at,
});

/**
 * Transitions a device's state may take: up the ranks, or between the states of one rank below the
 * final ones (a box waits for a gap between plays before or after its download). A final state
 * never changes, so a late or repeated status changes nothing.
 */
const RANK: Record<UpdateDeviceState, number> = { offered: 0, waiting: 1, downloading: 1, verified: 1, installed: 2, confirmed: 9, failed: 9, 'rolled-back': 9, refused: 9, withdrawn: 9 };

export class RolloutRepo {
  constructor(private readonly db: Database) {}

  async insertRelease(r: Release): Promise<void> {
    await this.db
      .insertInto('releases')
      .values({ id: r.id, version: r.version, arch: r.arch, node_abi: r.nodeAbi, min_previous_version: r.minPreviousVersion, sha256: r.sha256, size_bytes: r.sizeBytes, files: r.files, signed_by: r.signedBy, uploaded_by: r.uploadedBy, created_at: r.createdAt })
      .execute();
  }

  async release(id: string): Promise<Release | null> {
    const row = await this.db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRelease(row) : null;
  }

  async requireRelease(id: string): Promise<Release> {
    const r = await this.release(id);
    if (!r) throw brokerError('LOA_ERR_NOT_FOUND', { en: `release ${id}`, vi: `bản phát hành ${id}` });
    return r;
  }

  async releaseOf(version: string, arch: string): Promise<Release | null> {
    const row = await this.db.selectFrom('releases').selectAll().where('version', '=', version).where('arch', '=', arch).executeTakeFirst();
    return row ? toRelease(row) : null;
  }

  /** The newest first, each with who uploaded it (their username, while the account exists). */
  async releases(limit = 200): Promise<(Release & { uploadedByName: string | null })[]> {
    const rows = await this.db
      .selectFrom('releases')
      .leftJoin('users', 'users.id', 'releases.uploaded_by')
      .selectAll('releases')
      .select('users.username as uploaded_by_name')
      .orderBy('releases.created_at', 'desc')
      .orderBy('releases.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...toRelease(r), uploadedByName: r.uploaded_by_name }));
  }

  /** Stores the rollout and its devices (wave by wave, all `offered` later as their wave starts). */
  async insertRollout(r: Rollout, waves: string[][]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('rollouts')
        .values({
          id: r.id,
          release_id: r.releaseId,
          area_ids_json: JSON.stringify(r.areaIds),
          device_ids_json: JSON.stringify(r.deviceIds),
          waves_json: JSON.stringify(r.waves),
          failure_threshold: r.failureThreshold,
          confirm_within_ms: r.confirmWithinMs,
          state: r.state,
          wave: r.wave,
          halt_reason: r.haltReason,
          created_by: r.createdBy,
          created_at: r.createdAt,
          updated_at: r.updatedAt,
          ended_at: r.endedAt,
        })
        .execute();
      const rows = waves.flatMap((ids, wave) => ids.map((id) => ({ rollout_id: r.id, device_id: id, wave, state: 'offered', reason: null, offered_at: null, updated_at: r.createdAt })));
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('rollout_devices').values(rows.slice(i, i + 500)).execute();
    });
  }

  async rollout(id: string): Promise<Rollout | null> {
    const row = await this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRollout(row) : null;
  }

  async requireRollout(id: string): Promise<Rollout> {
    const r = await this.rollout(id);
    if (!r) throw brokerError('LOA_ERR_NOT_FOUND', { en: `rollout ${id}`, vi: `đợt cập nhật ${id}` });
    return r;
  }

  async rollouts(limit = 100): Promise<Rollout[]> {
    const rows = await this.db.selectFrom('rollouts').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).execute();
    return rows.map(toRollout);
  }

  async running(): Promise<Rollout[]> {
    const rows = await this.db.selectFrom('rollouts').selectAll().where('state', '=', 'running').orderBy('created_at').execute();
    return rows.map(toRollout);
  }

  /** Moves the rollout from `from` (one of) to the fields given; false if it was no longer in `from`. */
  async moveRollout(id: string, from: RolloutState[], set: Partial<Pick<Rollout, 'state' | 'wave' | 'haltReason' | 'endedAt'>> & { updatedAt: string }): Promise<boolean> {
    const r = await this.db
      .updateTable('rollouts')
      .set({
        ...(set.state !== undefined ? { state: set.state } : {}),
        ...(set.wave !== undefined ? { wave: set.wave } : {}),
        ...(set.haltReason !== undefined ? { halt_reason: set.haltReason } : {}),
        ...(set.endedAt !== undefined ? { ended_at: set.endedAt } : {}),
        updated_at: set.updatedAt,
      })
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async devices(rolloutId: string, wave?: number): Promise<RolloutDevice[]> {
    let q = this.db.selectFrom('rollout_devices').selectAll().where('rollout_id', '=', rolloutId);
    if (wave !== undefined) q = q.where('wave', '=', wave);
    const rows = await q.orderBy('wave').orderBy('device_id').execute();
    return rows.map((r) => ({ deviceId: r.device_id, wave: Number(r.wave), state: r.state as UpdateDeviceState, reason: r.reason, offeredAt: r.offered_at, updatedAt: r.updated_at }));
  }

  async markOffered(rolloutId: string, deviceIds: readonly string[], at: string): Promise<void> {
    for (let i = 0; i < deviceIds.length; i += 500) {
      await this.db.updateTable('rollout_devices').set({ offered_at: at }).where('rollout_id', '=', rolloutId).where('device_id', 'in', deviceIds.slice(i, i + 500)).where('offered_at', 'is', null).execute();
    }
  }

  /**
   * A device's state moves forward only (a repeated or late status changes nothing); returns the
   * row after, or null when it did not move (or the device is not in the rollout).
   */
  async advanceDevice(rolloutId: string, deviceId: string, state: UpdateDeviceState, reason: string | null, at: string): Promise<RolloutDevice | null> {
    const row = await this.db.selectFrom('rollout_devices').selectAll().where('rollout_id', '=', rolloutId).where('device_id', '=', deviceId).executeTakeFirst();
    if (!row) return null;
    const before = row.state as UpdateDeviceState;
    if (RANK[state] < RANK[before] || (RANK[state] === RANK[before] && (RANK[state] === 9 || state === before))) return null;
    const moved = await this.db
      .updateTable('rollout_devices')
      .set({ state, reason, updated_at: at })
      .where('rollout_id', '=', rolloutId)
      .where('device_id', '=', deviceId)
      .where('state', '=', before)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 0) return null;
    return { deviceId, wave: Number(row.wave), state, reason, offeredAt: row.offered_at, updatedAt: at };
  }

  /** Every device of the rollout not yet final gets `state` (withdrawn on cancel); returns their ids. */
  async settleOpen(rolloutId: string, state: UpdateDeviceState, reason: string, at: string, onlyBefore: UpdateDeviceState[]): Promise<string[]> {
    const rows = await this.db.selectFrom('rollout_devices').select('device_id').where('rollout_id', '=', rolloutId).where('state', 'in', onlyBefore).execute();
    const ids = rows.map((r) => r.device_id);
    for (let i = 0; i < ids.length; i += 500) {
      await this.db.updateTable('rollout_devices').set({ state, reason, updated_at: at }).where('rollout_id', '=', rolloutId).where('device_id', 'in', ids.slice(i, i + 500)).where('state', 'in', onlyBefore).execute();
    }
    return ids;
  }

  /** The device's place in the rollouts still running or paused (a device page's "update" line; replays on reconnect). */
  async openFor(deviceId: string): Promise<(RolloutDevice & { rolloutId: string })[]> {
    const rows = await this.db
      .selectFrom('rollout_devices as d')
      .innerJoin('rollouts as r', 'r.id', 'd.rollout_id')
      .select(['d.rollout_id', 'd.device_id', 'd.wave', 'd.state', 'd.reason', 'd.offered_at', 'd.updated_at'])
      .where('d.device_id', '=', deviceId)
      .where('r.state', 'in', ['running', 'paused'])
      .execute();
    return rows.map((r) => ({ rolloutId: r.rollout_id, deviceId: r.device_id, wave: Number(r.wave), state: r.state as UpdateDeviceState, reason: r.reason, offeredAt: r.offered_at, updatedAt: r.updated_at }));
  }

  /** The device's place in the latest rollout that included it, whatever that rollout's state (a device page), with the version it brought. */
  async latestFor(deviceId: string): Promise<DeviceUpdate | null> {
    const row = await this.db
      .selectFrom('rollout_devices as d')
      .innerJoin('rollouts as r', 'r.id', 'd.rollout_id')
      .innerJoin('releases as v', 'v.id', 'r.release_id')
      .select(['d.rollout_id', 'd.wave', 'd.state', 'd.reason', 'd.offered_at', 'd.updated_at', 'r.state as rollout_state', 'r.release_id', 'v.version'])
      .where('d.device_id', '=', deviceId)
      .orderBy('r.created_at', 'desc')
      .orderBy('r.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) return null;
    return {
      rolloutId: row.rollout_id,
      rolloutState: row.rollout_state,
      releaseId: row.release_id,
      version: row.version,
      wave: Number(row.wave),
      state: row.state as UpdateDeviceState,
      reason: row.reason,
      offeredAt: row.offered_at,
      updatedAt: row.updated_at,
    };
  }

  /** Devices by state over the rollouts still running or paused (metrics). */
  async openCounts(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('rollout_devices as d')
      .innerJoin('rollouts as r', 'r.id', 'd.rollout_id')
      .select(['d.state', (eb) => eb.fn.countAll().as('n')])
      .where('r.state', 'in', ['running', 'paused'])
      .groupBy('d.state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}
