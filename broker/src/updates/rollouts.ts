/**
 * Rollouts of an agent release (issue 20): the devices split into waves (waves.ts), each wave
 * offered the release on its own topic (signed, QoS 1), each device's steps recorded as it
 * reports them, the next wave started only once the one before is healthy, and the rollout
 * halted by itself when a wave's failures pass the threshold: the waves after it never get the
 * release. Pause stops new waves; cancel (and a halt) withdraws the offer from devices that have
 * not installed yet. A device away when its wave starts gets the offer when it is back.
 */
import { EventEmitter } from 'node:events';
import { newId, type Clock, type ClockTimer, type Logger, type MessageKind, type MessageOf, type UpdateDeviceState, type UpdateStatus } from '@loalang/protocol';
import { brokerError } from '../errors.js';
import { nextTurn } from '../next-turn.js';
import type { Release, Rollout, RolloutDevice, RolloutRepo } from './rollout-repo.js';
import { FAILED_UPDATE_STATES, judgeWave, planWaves } from './waves.js';

export interface RolloutPublisher {
  publishToDevice<K extends MessageKind>(deviceId: string, kind: K, message: MessageOf<K>): Promise<void>;
  isOnline(deviceId: string): boolean;
}

export interface RolloutDeps {
  repo: RolloutRepo;
  devices: {
    resolveTargetIds(areaIds: string[], deviceIds: string[]): Promise<string[]>;
    /** The CPU of each device that has said it. */
    archsOf(ids: readonly string[]): Promise<Map<string, string>>;
  };
  publisher: RolloutPublisher;
  /** The bundle's download address for devices. */
  releaseUrl: (releaseId: string) => string;
  clock: Clock;
  logger: Logger;
  /** What the rollout did on its own (a halt, a device refusing the bundle): the audit log. */
  audit: (action: string, target: string, detail: object) => Promise<void>;
}

/** What a caller gives to start a rollout; the service sets its id, state, wave and instants. */
export type NewRollout = Pick<Rollout, 'releaseId' | 'areaIds' | 'deviceIds' | 'waves' | 'failureThreshold' | 'confirmWithinMs' | 'createdBy'>;

export type RolloutDeviceEvent = RolloutDevice & { rolloutId: string };
type RolloutEvents = { rollout: [Rollout]; device: [RolloutDeviceEvent] };

/** A device that installed and then says nothing (neither confirmed nor rolled back) for this long past its confirmation window has failed. */
const SILENCE_AFTER_INSTALL_FACTOR = 2;
/** How often running rollouts are looked at again (devices back online, silent installs). */
const TICK_MS = 30_000;
/** Devices that have not installed yet: withdrawn when the rollout is cancelled or halts. */
const NOT_INSTALLED: UpdateDeviceState[] = ['offered', 'waiting', 'downloading', 'verified'];

export class RolloutService extends EventEmitter<RolloutEvents> {
  private timer: ClockTimer | null = null;
  /** Evaluations of one rollout, one after another. */
  private readonly evaluating = new Map<string, Promise<void>>();

  constructor(private readonly d: RolloutDeps) {
    super();
    this.setMaxListeners(0);
  }

  get repo(): RolloutRepo {
    return this.d.repo;
  }

  start(): void {
    const tick = () => {
      this.timer = this.d.clock.setTimeout(() => {
        void this.tick().finally(tick);
      }, TICK_MS);
    };
    tick();
  }

  stop(): void {
    if (this.timer) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  async create(input: NewRollout): Promise<Rollout> {
    const bad = (en: string, vi: string) => brokerError('LOA_ERR_INVALID', { en, vi });
    const w = input.waves;
    if (w.length === 0 || w.length > 10 || w.some((p, i) => !(p > 0 && p <= 100) || (i > 0 && p <= w[i - 1]!)) || w.at(-1) !== 100) {
      throw bad('waves are rising percentages ending at 100, e.g. [1, 10, 100]', 'các đợt là phần trăm tăng dần, kết thúc ở 100, ví dụ [1, 10, 100]');
    }
    if (!(input.failureThreshold >= 0 && input.failureThreshold < 1)) throw bad('failureThreshold is a fraction from 0 up to (not including) 1', 'ngưỡng lỗi là tỉ lệ từ 0 đến dưới 1');
    const release = await this.d.repo.requireRelease(input.releaseId);
    const devices = await this.d.devices.resolveTargetIds(input.areaIds, input.deviceIds);
    if (devices.length === 0) throw bad('the targets hold no enabled device', 'không có thiết bị nào đang hoạt động trong phạm vi đã chọn');
    // A fleet of two CPUs: every box gets the rollout's version built for it, so each CPU a target runs needs its bundle here.
    const held = new Map<string, boolean>([[release.arch, true]]);
    const lacking = new Map<string, string[]>();
    for (const [id, arch] of await this.d.devices.archsOf(devices)) {
      if (!held.has(arch)) held.set(arch, (await this.d.repo.releaseOf(release.version, arch)) !== null);
      if (!held.get(arch)) lacking.set(arch, [...(lacking.get(arch) ?? []), id]);
    }
    if (lacking.size > 0) {
      const [arch, ids] = [...lacking][0]!;
      throw bad(
        `release ${release.version} has no bundle for ${arch}, which ${ids.length} of the devices run (e.g. ${ids[0]}): pack it on an ${arch} machine and upload it, or leave those devices out`,
        `bản ${release.version} chưa có gói cho ${arch}, mà ${ids.length} thiết bị đang dùng (ví dụ ${ids[0]}): hãy đóng gói trên máy ${arch} và tải lên, hoặc bỏ các thiết bị đó ra`,
      );
    }
    const busy = [];
    for (const id of devices) if ((await this.d.repo.openFor(id)).length > 0) busy.push(id);
    if (busy.length > 0) {
      throw brokerError('LOA_ERR_CONFLICT', { en: `${busy.length} of the devices are in another rollout still running or paused (e.g. ${busy[0]})`, vi: `${busy.length} thiết bị đang ở trong một đợt cập nhật khác chưa kết thúc (ví dụ ${busy[0]})` });
    }
    const now = new Date(this.d.clock.now()).toISOString();
    const rollout: Rollout = {
      id: newId(),
      releaseId: release.id,
      areaIds: input.areaIds,
      deviceIds: input.deviceIds,
      waves: input.waves,
      failureThreshold: input.failureThreshold,
      confirmWithinMs: input.confirmWithinMs,
      state: 'running',
      wave: 0,
      haltReason: null,
      createdBy: input.createdBy,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
    };
    await this.d.repo.insertRollout(rollout, planWaves(devices, input.waves, rollout.id));
    this.d.logger.info({ rolloutId: rollout.id, version: release.version, devices: devices.length, waves: input.waves }, 'rollout started');
    this.emit('rollout', rollout);
    await this.offerWave(rollout, 0);
    return rollout;
  }

  /** Sends the offer to the wave's devices that are online; the others get it when they are back. */
  private async offerWave(rollout: Rollout, wave: number): Promise<void> {
    const devices = (await this.d.repo.devices(rollout.id, wave)).filter((x) => x.state === 'offered');
    await this.d.repo.markOffered(rollout.id, devices.map((x) => x.deviceId), new Date(this.d.clock.now()).toISOString());
    for (const x of devices) {
      if (this.d.publisher.isOnline(x.deviceId)) await this.sendOffer(rollout, x.deviceId);
    }
  }

  /** The rollout's version built for the device's CPU (the rollout's own release when the device has not said its CPU). */
  private async releaseFor(rollout: Rollout, deviceId: string): Promise<Release> {
    const release = await this.d.repo.requireRelease(rollout.releaseId);
    const arch = (await this.d.devices.archsOf([deviceId])).get(deviceId);
    return (arch && arch !== release.arch && (await this.d.repo.releaseOf(release.version, arch))) || release;
  }

  private async sendOffer(rollout: Rollout, deviceId: string): Promise<void> {
    const release = await this.releaseFor(rollout, deviceId);
    await this.d.publisher
      .publishToDevice(deviceId, 'update', {
        v: 1,
        type: 'offer',
        rolloutId: rollout.id,
        version: release.version,
        arch: release.arch,
        url: this.d.releaseUrl(release.id),
        sha256: release.sha256,
        size: release.sizeBytes,
        confirmWithinMs: rollout.confirmWithinMs,
        issuedAt: new Date(this.d.clock.now()).toISOString(),
      })
      .catch((err: unknown) => this.d.logger.warn({ err, deviceId, rolloutId: rollout.id }, 'update offer not sent; sent again when the device is back'));
  }

  /** Whether a rollout still open offered this release to the device (it may download the bundle). */
  async mayFetch(deviceId: string, releaseId: string): Promise<boolean> {
    for (const place of await this.d.repo.openFor(deviceId)) {
      const rollout = place.offeredAt !== null ? await this.d.repo.rollout(place.rolloutId) : null;
      if (rollout && (await this.releaseFor(rollout, deviceId)).id === releaseId) return true;
    }
    return false;
  }

  /** A device's account of its update. */
  async onStatus(deviceId: string, s: UpdateStatus): Promise<void> {
    if (!s.rolloutId) return; // an update no rollout of ours asked for (a technician's own): nothing to record
    const moved = await this.d.repo.advanceDevice(s.rolloutId, deviceId, s.state, s.reason ?? null, s.at);
    if (!moved) return;
    this.emit('device', { rolloutId: s.rolloutId, ...moved });
    // Every way a device did not take a release is audited with its reason: refused the bundle, rolled back, failed.
    if (FAILED_UPDATE_STATES.includes(s.state)) {
      this.d.logger.warn({ deviceId, rolloutId: s.rolloutId, state: s.state, reason: s.reason }, 'update failed on a device');
      await this.d.audit(`update-${s.state}`, deviceId, { rolloutId: s.rolloutId, version: s.version, reason: s.reason ?? null });
    }
    await this.evaluate(s.rolloutId);
  }

  /**
   * A device connected: an offer of a running rollout it has not installed yet goes to it again
   * (a box that restarted mid-download resumes it; one that has it under way ignores the repeat).
   */
  async onConnect(deviceId: string): Promise<void> {
    for (const place of await this.d.repo.openFor(deviceId)) {
      if (!NOT_INSTALLED.includes(place.state)) continue;
      const rollout = await this.d.repo.rollout(place.rolloutId);
      if (rollout?.state === 'running' && place.wave <= rollout.wave) await this.sendOffer(rollout, deviceId);
    }
  }

  /** Looks at a rollout again: halts it, starts its next wave, or ends it. One at a time per rollout. */
  evaluate(rolloutId: string): Promise<void> {
    const next = (this.evaluating.get(rolloutId) ?? Promise.resolve()).then(() => this.evaluateNow(rolloutId)).catch((err: unknown) => this.d.logger.error({ err, rolloutId }, 'rollout not evaluated'));
    this.evaluating.set(rolloutId, next);
    void next.then(() => {
      if (this.evaluating.get(rolloutId) === next) this.evaluating.delete(rolloutId);
    });
    return next;
  }

  private async evaluateNow(rolloutId: string): Promise<void> {
    const rollout = await this.d.repo.rollout(rolloutId);
    if (!rollout || rollout.state !== 'running') return;
    const devices = await this.d.repo.devices(rolloutId);
    const wavesSoFar = [...new Set(devices.map((x) => x.wave))].filter((w) => w <= rollout.wave).sort((a, b) => a - b);
    for (const wave of wavesSoFar) {
      const members = devices.filter((x) => x.wave === wave).map((x) => ({ state: x.state, online: this.d.publisher.isOnline(x.deviceId) }));
      const verdict = judgeWave(members, rollout.failureThreshold);
      if (verdict.kind === 'halt') {
        await this.halt(rollout, `wave ${wave + 1}: ${verdict.failed} of ${verdict.of} devices failed (threshold ${Math.round(rollout.failureThreshold * 100)} %)`);
        return;
      }
      if (wave === rollout.wave && verdict.kind === 'next') {
        const lastWave = Math.max(...devices.map((x) => x.wave));
        const at = new Date(this.d.clock.now()).toISOString();
        if (wave >= lastWave) {
          if (await this.d.repo.moveRollout(rolloutId, ['running'], { state: 'done', endedAt: at, updatedAt: at })) {
            this.d.logger.info({ rolloutId }, 'rollout done');
            this.emit('rollout', await this.d.repo.requireRollout(rolloutId));
          }
          return;
        }
        if (await this.d.repo.moveRollout(rolloutId, ['running'], { wave: wave + 1, updatedAt: at })) {
          const after = await this.d.repo.requireRollout(rolloutId);
          this.d.logger.info({ rolloutId, wave: wave + 2 }, 'rollout: next wave');
          this.emit('rollout', after);
          await this.offerWave(after, wave + 1);
        }
      }
    }
  }

  private async halt(rollout: Rollout, reason: string): Promise<void> {
    const at = new Date(this.d.clock.now()).toISOString();
    if (!(await this.d.repo.moveRollout(rollout.id, ['running'], { state: 'halted', haltReason: reason, endedAt: at, updatedAt: at }))) return;
    this.d.logger.error({ rolloutId: rollout.id, reason }, 'rollout halted by itself');
    await this.withdrawOpen(rollout.id, 'rollout halted', at);
    await this.d.audit('rollout-halted', rollout.id, { reason });
    this.emit('rollout', await this.d.repo.requireRollout(rollout.id));
  }

  /** Devices that have not installed yet are told not to; their state says why. */
  private async withdrawOpen(rolloutId: string, reason: string, at: string): Promise<void> {
    const offered = new Set((await this.d.repo.devices(rolloutId)).filter((x) => x.offeredAt !== null && NOT_INSTALLED.includes(x.state)).map((x) => x.deviceId));
    const withdrawn = await this.d.repo.settleOpen(rolloutId, 'withdrawn', reason, at, NOT_INSTALLED);
    for (const id of withdrawn) {
      this.emit('device', { rolloutId, deviceId: id, wave: -1, state: 'withdrawn', reason, offeredAt: null, updatedAt: at });
      if (offered.has(id) && this.d.publisher.isOnline(id)) {
        await this.d.publisher.publishToDevice(id, 'update', { v: 1, type: 'withdraw', rolloutId, at }).catch(() => undefined);
        await nextTurn();
      }
    }
  }

  async pause(id: string): Promise<Rollout> {
    return this.move(id, ['running'], 'paused');
  }

  async resume(id: string): Promise<Rollout> {
    const rollout = await this.move(id, ['paused'], 'running');
    // Offers a device missed while paused (it came back meanwhile) go out now.
    const wave = (await this.d.repo.devices(id, rollout.wave)).filter((x) => x.state === 'offered');
    for (const x of wave) if (this.d.publisher.isOnline(x.deviceId)) await this.sendOffer(rollout, x.deviceId);
    await this.evaluate(id);
    return this.d.repo.requireRollout(id);
  }

  async cancel(id: string): Promise<Rollout> {
    const rollout = await this.move(id, ['running', 'paused'], 'cancelled');
    await this.withdrawOpen(id, 'rollout cancelled', rollout.updatedAt);
    return rollout;
  }

  private async move(id: string, from: Rollout['state'][], to: Rollout['state']): Promise<Rollout> {
    const before = await this.d.repo.requireRollout(id);
    const at = new Date(this.d.clock.now()).toISOString();
    const ends = to === 'cancelled';
    if (!(await this.d.repo.moveRollout(id, from, { state: to, updatedAt: at, ...(ends ? { endedAt: at } : {}) }))) {
      throw brokerError('LOA_ERR_CONFLICT', { en: `the rollout is ${before.state}, so it cannot be made ${to}`, vi: `đợt cập nhật đang ở trạng thái ${before.state}, không chuyển sang ${to} được` });
    }
    const after = await this.d.repo.requireRollout(id);
    this.emit('rollout', after);
    return after;
  }

  /** Devices silent too long after installing have failed; then each running rollout is looked at again. */
  async tick(): Promise<void> {
    try {
      for (const rollout of await this.d.repo.running()) {
        const limit = this.d.clock.now() - rollout.confirmWithinMs * SILENCE_AFTER_INSTALL_FACTOR;
        for (const x of await this.d.repo.devices(rollout.id)) {
          if (x.state === 'installed' && Date.parse(x.updatedAt) < limit) {
            const reason = `no confirmation nor roll-back within ${Math.round((rollout.confirmWithinMs * SILENCE_AFTER_INSTALL_FACTOR) / 1000)} s of installing`;
            const moved = await this.d.repo.advanceDevice(rollout.id, x.deviceId, 'failed', reason, new Date(this.d.clock.now()).toISOString());
            if (!moved) continue;
            this.emit('device', { rolloutId: rollout.id, ...moved });
            await this.d.audit('update-failed', x.deviceId, { rolloutId: rollout.id, version: null, reason });
          }
        }
        await this.evaluate(rollout.id);
      }
    } catch (err) {
      this.d.logger.error({ err }, 'rollout tick failed');
    }
  }
}
