/**
 * Sends each device its desired state: when its plays change, when it comes online, when
 * it reports an older version, and on a periodic tick that rolls the horizon forward.
 * Nothing depends on a broker queue: a device that missed a message gets the state again.
 */
import type { Clock, ClockTimer, DesiredState, Logger, ServerKey } from '@loalang/protocol';
import type { DesiredStateService } from './desired-state.js';
import type { CutPlays } from './state-budget.js';
import type { DownlinkPublisher } from '../mqtt/contracts.js';

export interface DispatcherDeps {
  desired: DesiredStateService;
  publisher: DownlinkPublisher;
  isOnline: (deviceId: string) => boolean;
  allDeviceIds: () => string[];
  /** The signing keys devices should trust, sent inside every (signed) desired state. */
  serverKeys: () => ServerKey[];
  clock: Clock;
  logger: Logger;
  tickMs?: number;
  /** Told when a device's programme had to be cut to fit what a speaker accepts (state-budget.ts). */
  onCut?: (deviceId: string, cut: CutPlays[]) => void;
}

export class Dispatcher {
  private timer: ClockTimer | null = null;
  private stopped = true;

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.refresh(this.deps.allDeviceIds(), 'tick');
      this.arm();
    }, this.deps.tickMs ?? 5 * 60_000);
  }

  /** Recomputes the devices' states and sends the changed ones to those online. */
  refresh(deviceIds: Iterable<string>, cause: string): void {
    for (const deviceId of deviceIds) {
      try {
        const { state, changed, cut } = this.deps.desired.refresh(deviceId);
        if (cut.length > 0) this.deps.onCut?.(deviceId, cut);
        if (changed && this.deps.isOnline(deviceId)) this.send(deviceId, state, cause);
      } catch (err) {
        this.deps.logger.error({ err, deviceId }, 'desired state refresh failed');
      }
    }
  }

  /** Always sends the current state (device came online or is behind). */
  resend(deviceId: string, cause: string): void {
    try {
      const { state, cut } = this.deps.desired.refresh(deviceId);
      if (cut.length > 0) this.deps.onCut?.(deviceId, cut);
      this.send(deviceId, state, cause);
    } catch (err) {
      this.deps.logger.error({ err, deviceId }, 'desired state resend failed');
    }
  }

  private send(deviceId: string, state: DesiredState, cause: string): void {
    this.deps.publisher.publishToDevice(deviceId, 'desired', { ...state, serverKeys: this.deps.serverKeys() }).then(
      () => this.deps.logger.debug({ deviceId, cause }, 'desired state sent'),
      (err: unknown) => this.deps.logger.warn({ err, deviceId, cause }, 'desired state publish failed'),
    );
  }
}
