/**
 * Sends each device its desired state: when its plays change, when it comes online, when
 * it reports an older version, and on a periodic tick that rolls the horizon forward.
 * Nothing depends on a broker queue: a device that missed a message gets the state again.
 */
import type { Clock, ClockTimer, DesiredState, Logger, ServerKey } from '@loalang/protocol';
import type { DesiredStateService } from './desired-state.js';
import type { CutPlays } from './state-budget.js';
import type { DownlinkPublisher } from '../mqtt/contracts.js';
import { KeyedSerial } from '../keyed-serial.js';
import { Limiter } from '../limiter.js';
import { nextTurn } from '../next-turn.js';

/**
 * Resends computed at once. A reconnect storm asks for thousands together; each one is a few
 * statements and a transaction on the database. Half of PostgreSQL's default pool of ten leaves
 * the rest to the storm's logins, presence and alerts, which a speaker needs first.
 */
export const RESENDS_AT_ONCE = 5;

export interface DispatcherDeps {
  desired: DesiredStateService;
  publisher: DownlinkPublisher;
  isOnline: (deviceId: string) => boolean;
  allDeviceIds: () => Promise<string[]>;
  /** The signing keys devices should trust, sent inside every (signed) desired state. */
  serverKeys: () => ServerKey[];
  clock: Clock;
  logger: Logger;
  tickMs?: number;
  /** Told when a device's programme had to be cut to fit what a speaker accepts (state-budget.ts). */
  onCut?: (deviceId: string, cut: CutPlays[]) => Promise<void> | void;
}

export class Dispatcher {
  private timer: ClockTimer | null = null;
  private stopped = true;
  /** One refresh per device at a time: a slower, older one must not overwrite a newer programme. */
  private readonly perDevice = new KeyedSerial();
  private readonly resends = new Limiter(RESENDS_AT_ONCE);

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
      void this.deps
        .allDeviceIds()
        .then((ids) => this.refresh(ids, 'tick'))
        .catch((err: unknown) => this.deps.logger.error({ err }, 'desired state tick failed'))
        .finally(() => this.arm());
    }, this.deps.tickMs ?? 5 * 60_000);
  }

  /**
   * Recomputes the devices' states and sends the changed ones to those online, a turn of the event
   * loop between devices (next-turn.ts): a tick over 10,000 must not hold the sockets. Never
   * rejects: failures are logged.
   */
  async refresh(deviceIds: Iterable<string>, cause: string): Promise<void> {
    for (const deviceId of deviceIds) {
      await nextTurn();
      await this.perDevice.run(deviceId, async () => {
        try {
          const { state, changed, cut } = await this.deps.desired.refresh(deviceId);
          if (cut.length > 0) await this.deps.onCut?.(deviceId, cut);
          if (changed && this.deps.isOnline(deviceId)) this.send(deviceId, state, cause);
        } catch (err) {
          this.deps.logger.error({ err, deviceId }, 'desired state refresh failed');
        }
      });
    }
  }

  /** Always sends the current state (device came online or is behind). Never rejects: failures are logged. */
  resend(deviceId: string, cause: string): Promise<void> {
    return this.perDevice.run(deviceId, () =>
      this.resends.run(async () => {
        // A storm queues thousands: each lets the sockets be read before it runs.
        await nextTurn();
        // Gone while it waited for its turn: it is sent again when it is back.
        if (!this.deps.isOnline(deviceId)) return;
        try {
          const { state, cut } = await this.deps.desired.refresh(deviceId);
          if (cut.length > 0) await this.deps.onCut?.(deviceId, cut);
          this.send(deviceId, state, cause);
        } catch (err) {
          this.deps.logger.error({ err, deviceId }, 'desired state resend failed');
        }
      }),
    );
  }

  private send(deviceId: string, state: DesiredState, cause: string): void {
    this.deps.publisher.publishToDevice(deviceId, 'desired', { ...state, serverKeys: this.deps.serverKeys() }).then(
      () => this.deps.logger.debug({ deviceId, cause }, 'desired state sent'),
      (err: unknown) => this.deps.logger.warn({ err, deviceId, cause }, 'desired state publish failed'),
    );
  }
}
