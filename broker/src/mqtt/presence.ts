/**
 * Online/offline per device from the connection lifecycle. A device that reconnects
 * replaces its old connection (MQTT-3.1.4-2); the old one's disconnect must not mark it
 * offline, so connections that authenticated but are not ready yet are tracked.
 */
import type { Client } from 'aedes';
import type { Clock } from '@loalang/protocol';
import type { PresenceChange } from './contracts.js';

export class Presence {
  /** The ready connection of each device, and since when (the clock's ms) the device has been online here. */
  private readonly current = new Map<string, { client: Client; since: number }>();
  private readonly pending = new Map<string, Set<Client>>();

  constructor(
    private readonly clock: Clock,
    private readonly emit: (change: PresenceChange) => void,
  ) {}

  connecting(deviceId: string, client: Client): void {
    const set = this.pending.get(deviceId) ?? new Set<Client>();
    set.add(client);
    this.pending.set(deviceId, set);
  }

  private unpend(deviceId: string, client: Client): boolean {
    const set = this.pending.get(deviceId);
    if (!set?.delete(client)) return false;
    if (set.size === 0) this.pending.delete(deviceId);
    return true;
  }

  ready(deviceId: string, client: Client): void {
    this.unpend(deviceId, client);
    const was = this.current.get(deviceId);
    const at = was?.since ?? this.clock.now();
    this.current.set(deviceId, { client, since: at });
    if (!was) this.emit({ deviceId, online: true, at, cause: 'connect' });
  }

  gone(deviceId: string, client: Client, cause = 'disconnect'): void {
    if (this.unpend(deviceId, client)) return; // authenticated but never became ready
    if (this.current.get(deviceId)?.client !== client) return;
    this.current.delete(deviceId);
    if (this.pending.has(deviceId)) return; // replaced by a newer connection: stays online
    this.emit({ deviceId, online: false, at: this.clock.now(), cause });
  }

  isOnline(deviceId: string): boolean {
    return this.current.has(deviceId);
  }

  onlineIds(): string[] {
    return [...this.current.keys()];
  }

  clientOf(deviceId: string): Client | undefined {
    return this.current.get(deviceId)?.client;
  }

  /** Since when the device has been online here (the instant its "online" carried), if it is. */
  onlineSince(deviceId: string): number | undefined {
    return this.current.get(deviceId)?.since;
  }
}
