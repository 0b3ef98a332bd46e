/** A stand-in for the amplifier board: records what the agent asks of it; can be told to fail. */
import { EventEmitter } from 'node:events';
import type { AmplifierController, AmpEvent, AmpStatus, LinkCounters } from '@loalang/firmware-bridge';

/** Records what the agent asks of the amplifier; can be told to fail. */
export class FakeAmplifier extends EventEmitter implements AmplifierController {
  calls: string[] = [];
  fail = false;
  power = false;
  async start() {}
  async stop() {}
  async powerOn() {
    this.calls.push('on');
    if (this.fail) throw new Error('board silent');
    this.power = true;
  }
  async powerOff() {
    this.calls.push('off');
    this.power = false;
  }
  async setVolume() {}
  async status(): Promise<AmpStatus> {
    if (this.fail) throw new Error('board silent');
    return { power: this.power, faults: [], temperatureC: 31 };
  }
  counters(): LinkCounters {
    return { framesSent: 0, framesReceived: 0, crcErrors: 0, timeouts: 0, retries: 0, reconnects: 0 };
  }
  override on(event: 'event', listener: (e: AmpEvent) => void): this {
    return super.on(event, listener);
  }
}
