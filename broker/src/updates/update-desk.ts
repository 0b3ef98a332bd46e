/**
 * Fleet updates as technicians and admins see them (issue 20): a rollout's targets must lie in
 * the caller's area; a rollout is the caller's to see when it targets one of their areas or
 * devices, and to pause, resume or cancel when all its targets are theirs.
 */
import type { AreaRepo } from '../areas/areas.js';
import type { DeviceRepo } from '../devices/devices.js';
import { checkTargets, deviceInScope, targetsVisible, type Caller, type Targets } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import { FAILED_UPDATE_STATES } from './waves.js';
import type { Release, Rollout, RolloutDevice } from './rollout-repo.js';
import type { RolloutService } from './rollouts.js';

export interface RolloutRequest {
  releaseId: string;
  targets: Targets;
  waves?: number[];
  failureThreshold?: number;
  confirmWithinMs?: number;
}

export const ROLLOUT_DEFAULTS = { waves: [1, 10, 100], failureThreshold: 0.1, confirmWithinMs: 300_000 };

export interface RolloutView extends Rollout {
  release: Release;
  devices: RolloutDevice[];
  /** Devices by state. */
  totals: Record<string, number>;
  failed: number;
}

export class UpdateDesk {
  constructor(private readonly d: { rollouts: RolloutService; areas: Pick<AreaRepo, 'require'>; devices: Pick<DeviceRepo, 'require' | 'idsInAreas'> }) {}

  async create(caller: Caller, r: RolloutRequest): Promise<Rollout> {
    const targets = await checkTargets(this.d, caller, r.targets);
    return this.d.rollouts.create({
      releaseId: r.releaseId,
      areaIds: targets.areaIds,
      deviceIds: targets.deviceIds,
      waves: r.waves ?? ROLLOUT_DEFAULTS.waves,
      failureThreshold: r.failureThreshold ?? ROLLOUT_DEFAULTS.failureThreshold,
      confirmWithinMs: r.confirmWithinMs ?? ROLLOUT_DEFAULTS.confirmWithinMs,
      createdBy: caller.user.id,
    });
  }

  async list(caller: Caller): Promise<Rollout[]> {
    const mine = await deviceInScope(this.d.devices, caller);
    return (await this.d.rollouts.repo.rollouts()).filter((r) => targetsVisible(caller, { areaIds: r.areaIds, deviceIds: r.deviceIds }, mine));
  }

  async view(caller: Caller, id: string): Promise<RolloutView> {
    const rollout = await this.visible(caller, id);
    const devices = await this.d.rollouts.repo.devices(id);
    const totals: Record<string, number> = {};
    for (const x of devices) totals[x.state] = (totals[x.state] ?? 0) + 1;
    return { ...rollout, release: await this.d.rollouts.repo.requireRelease(rollout.releaseId), devices, totals, failed: devices.filter((x) => FAILED_UPDATE_STATES.includes(x.state)).length };
  }

  async pause(caller: Caller, id: string): Promise<Rollout> {
    await this.owned(caller, id);
    return this.d.rollouts.pause(id);
  }

  async resume(caller: Caller, id: string): Promise<Rollout> {
    await this.owned(caller, id);
    return this.d.rollouts.resume(id);
  }

  async cancel(caller: Caller, id: string): Promise<Rollout> {
    await this.owned(caller, id);
    return this.d.rollouts.cancel(id);
  }

  private async visible(caller: Caller, id: string): Promise<Rollout> {
    const rollout = await this.d.rollouts.repo.requireRollout(id);
    const mine = await deviceInScope(this.d.devices, caller);
    if (!targetsVisible(caller, { areaIds: rollout.areaIds, deviceIds: rollout.deviceIds }, mine)) throw brokerError('LOA_ERR_NOT_FOUND', { en: `rollout ${id}`, vi: `đợt cập nhật ${id}` });
    return rollout;
  }

  /** Every target of the rollout is the caller's (a district technician cannot stop a province's rollout). */
  private async owned(caller: Caller, id: string): Promise<Rollout> {
    const rollout = await this.visible(caller, id);
    await checkTargets(this.d, caller, { areaIds: rollout.areaIds, deviceIds: rollout.deviceIds });
    return rollout;
  }
}
