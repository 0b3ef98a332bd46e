/**
 * When alarms are raised and cleared. Inputs: presence changes, device events (the board's
 * faults, its serial link), telemetry (clock offset, disk) and play reports. Thresholds are
 * settings (LOALANG_ALARM_* in the README).
 */
import { every, type Clock, type DeviceEvent, type Logger, type PlayReport, type Repeating, type Telemetry } from '@loalang/protocol';
import type { DeviceRepo } from '../devices/devices.js';
import { ALARM_KINDS, type AlarmKind, type AlarmRepo } from './alarms.js';
import { nextTurn } from '../next-turn.js';

export interface AlarmThresholds {
  /** A device offline this long raises `offline`. */
  offlineAfterMs: number;
  /** |clock offset| above this raises `clock-offset`. */
  clockOffsetMs: number;
  /** Share of the agent's disk in use above this raises `disk-full`. */
  diskUsedRatio: number;
  /** This many failed plays in a row raise `play-failures`. */
  playFailures: number;
  /** How often offline devices are looked for. */
  sweepMs: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = { offlineAfterMs: 10 * 60_000, clockOffsetMs: 100, diskUsedRatio: 0.9, playFailures: 3, sweepMs: 15_000 };

const KNOWN = new Set<string>(ALARM_KINDS);

export class AlarmRules {
  private sweeper: Repeating | null = null;
  private readonly failuresInARow = new Map<string, number>();
  /** The play-failures writes of the reports, in the order asked: each goes when the one before it is done. */
  private tail: Promise<void> = Promise.resolve();
  /** The play-failures clears gathering to go as one (see clearPlayFailures). */
  private gathering: { devices: Map<string, number>; done: Promise<void> } | null = null;

  constructor(
    private readonly d: { alarms: AlarmRepo; devices: DeviceRepo; clock: Clock; logger: Logger },
    private readonly t: AlarmThresholds,
  ) {}

  start(): void {
    const sweep = () => void this.sweep().catch((err: unknown) => this.d.logger.error({ err }, 'offline alarm sweep failed'));
    sweep();
    this.sweeper = every(this.d.clock, this.t.sweepMs, sweep);
  }

  stop(): void {
    this.sweeper?.stop();
    this.sweeper = null;
  }

  /** Raises `offline` for every device offline longer than the threshold. */
  async sweep(): Promise<void> {
    const now = this.d.clock.now();
    for (const { id, since } of await this.d.devices.offlineSince(now - this.t.offlineAfterMs)) {
      await nextTurn(); // after an outage, thousands at once
      await this.d.alarms.raise(id, 'offline', `offline since ${since}`, now);
    }
  }

  async onPresence(deviceId: string, online: boolean, at: number): Promise<void> {
    if (online) await this.d.alarms.clear(deviceId, 'offline', at);
  }

  async onEvent(deviceId: string, e: DeviceEvent): Promise<void> {
    const kind: AlarmKind = e.kind === 'amp-link' ? 'amp-link' : e.code && KNOWN.has(e.code) ? (e.code as AlarmKind) : 'amp-fault';
    const at = Date.parse(e.at);
    if (e.active) await this.d.alarms.raise(deviceId, kind, e.detail ?? e.code ?? null, at);
    else await this.d.alarms.clear(deviceId, kind, at);
  }

  async onTelemetry(deviceId: string, t: Telemetry): Promise<void> {
    const at = Date.parse(t.at);
    if (t.clockOffsetMs !== undefined) {
      await this.set(deviceId, 'clock-offset', Math.abs(t.clockOffsetMs) > this.t.clockOffsetMs, `clock off by ${Math.round(t.clockOffsetMs)} ms`, at);
    }
    if (t.diskFreeBytes !== undefined && t.diskTotalBytes) {
      const used = 1 - t.diskFreeBytes / t.diskTotalBytes;
      await this.set(deviceId, 'disk-full', used > this.t.diskUsedRatio, `disk ${Math.round(used * 100)} % used`, at);
    }
  }

  async onReport(deviceId: string, r: PlayReport): Promise<void> {
    const at = Date.parse(r.endedAt ?? r.scheduledAt);
    if (r.status === 'completed') {
      this.failuresInARow.delete(deviceId);
      await this.clearPlayFailures(deviceId, at);
      return;
    }
    if (r.status !== 'failed') return;
    const n = (this.failuresInARow.get(deviceId) ?? 0) + 1;
    this.failuresInARow.set(deviceId, n);
    if (n >= this.t.playFailures) await this.raisePlayFailures(deviceId, `${n} failed plays in a row, last: ${r.reason ?? 'unknown'}`, at);
  }

  /**
   * Clears `play-failures` on the device, together with the other clears asked for meanwhile:
   * every completed play asks, a batch of reports asks hundreds of times in one turn, and one
   * UPDATE per report was most of what a crowd of reports cost the database. The group goes as
   * one statement (AlarmRepo.clearMany) once the play-failures writes asked before it are done.
   * A device asked twice in one group keeps the first instant: run one after the other, the
   * second clear would find nothing left to clear.
   */
  private clearPlayFailures(deviceId: string, at: number): Promise<void> {
    if (!this.gathering) {
      const group = { devices: new Map<string, number>(), done: Promise.resolve() };
      group.done = this.tail.then(async () => {
        if (this.gathering === group) this.gathering = null;
        await this.d.alarms.clearMany('play-failures', group.devices);
      });
      this.tail = group.done.catch(() => undefined);
      this.gathering = group;
    }
    if (!this.gathering.devices.has(deviceId)) this.gathering.devices.set(deviceId, at);
    return this.gathering.done;
  }

  /** Raises `play-failures` after the clears asked before it; the clears asked after it go after it. */
  private raisePlayFailures(deviceId: string, detail: string, at: number): Promise<void> {
    this.gathering = null;
    const done = this.tail.then(async () => void (await this.d.alarms.raise(deviceId, 'play-failures', detail, at)));
    this.tail = done.catch(() => undefined);
    return done;
  }

  /**
   * The device's programme did not reach it whole (issue 14): the speaker refused a desired state,
   * or the server had to cut a runaway schedule to fit. `problem` null: the device holds its
   * current programme whole again.
   */
  async onProgramme(deviceId: string, problem: string | null, at: number): Promise<void> {
    if (problem) await this.d.alarms.raise(deviceId, 'programme', problem, at);
    else await this.d.alarms.clear(deviceId, 'programme', at);
  }

  private async set(deviceId: string, kind: AlarmKind, active: boolean, detail: string, at: number): Promise<void> {
    if (active) await this.d.alarms.raise(deviceId, kind, detail, at);
    else await this.d.alarms.clear(deviceId, kind, at);
  }
}
