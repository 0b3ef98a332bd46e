/**
 * Turns amplifier events into conditions the server records: the board's link lost
 * (raised) and back (cleared), faults raised and cleared. Events wait in memory while the
 * server is unreachable and go out on reconnect; the latest state also rides in telemetry.
 */
import { newId, type DeviceEvent, type Logger } from '@loalang/protocol';
import type { AmpEvent } from '@loalang/firmware-bridge';
import type { MqttSession } from '../link/mqtt-session.js';

const MAX_PENDING = 200;

export class Conditions {
  private readonly pending: DeviceEvent[] = [];
  private readonly raised = new Set<string>();

  constructor(
    private readonly session: MqttSession,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  start(): void {
    this.session.on('connected', () => this.flush());
  }

  onAmpEvent(e: AmpEvent): void {
    const kind = e.type === 'link' ? 'amp-link' : 'amp-fault';
    const code = e.type === 'fault' ? e.fault : undefined;
    const active = e.type === 'link' ? !e.up : e.active;
    const key = `${kind}|${code ?? ''}`;
    // A clear is only news if we raised it; the first "link up" at start is not.
    if (!active && !this.raised.has(key)) return;
    if (active) this.raised.add(key);
    else this.raised.delete(key);
    const detail = e.type === 'link' ? (active ? 'no answer from the amplifier board on its serial port (unplugged cable, board without power, or port gone)' : 'the amplifier board answers again') : undefined;
    const event: DeviceEvent = { v: 1, eventId: newId(), at: new Date(this.now()).toISOString(), kind, active, ...(code ? { code } : {}), ...(detail ? { detail } : {}) };
    this.logger[active ? 'warn' : 'info']({ kind, code, active }, active ? 'condition raised' : 'condition cleared');
    this.pending.push(event);
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    this.flush();
  }

  private flush(): void {
    if (!this.session.connected) return;
    for (const event of this.pending.splice(0)) {
      this.session.publish('event', event).catch(() => {
        if (this.pending.length < MAX_PENDING) this.pending.push(event);
      });
    }
  }
}
