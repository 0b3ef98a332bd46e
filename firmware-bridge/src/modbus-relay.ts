/**
 * Cheap Modbus RTU relay boards (Waveshare-style, 9600 8N1, unit 1) that technicians use to
 * switch amplifier power: FC05 write coil, FC01 read coils, FC0F write coils, through the
 * `modbus-serial` package. They only switch relays: no temperature, current or faults are
 * measured (so none are reported), no volume (applied in software by the agent), no failsafe.
 */
import { EventEmitter } from 'node:events';
import ModbusSerial from 'modbus-serial';
import { silentLogger, type Logger } from '@loalang/protocol';
import type { AmpEvent, AmpStatus, AmplifierController, LinkCounters } from './amplifier.js';
import { ampError } from './errors.js';

export interface RelayCoilMap {
  /** Coil that switches amplifier power. */
  power: number;
  /** Coils of the speaker zones, zone 0 first. */
  zones: number[];
}

/**
 * What the driver uses of a `modbus-serial` client, and nothing more: the default is a real
 * one; tests give a fake.
 */
export interface ModbusClient {
  readonly isOpen: boolean;
  connectRTUBuffered(path: string, options: { baudRate: number; dataBits: number; stopBits: number; parity: 'none' }): Promise<void>;
  setID(id: number): void;
  setTimeout(ms: number): void;
  close(callback: () => void): void;
  /** FC05. */
  writeCoil(address: number, state: boolean): Promise<unknown>;
  /** FC0F. */
  writeCoils(address: number, states: boolean[]): Promise<unknown>;
  /** FC01. */
  readCoils(address: number, length: number): Promise<{ data: boolean[] }>;
}

export interface ModbusRelayOptions {
  path: string;
  baudRate?: number;
  unitId?: number;
  coils?: RelayCoilMap;
  timeoutMs?: number;
  retries?: number;
  logger?: Logger;
  /** The Modbus client; a real `modbus-serial` one unless given. */
  client?: ModbusClient;
}

// A CommonJS package: under NodeNext its class is the module's `default` property.
const ModbusRTU = ModbusSerial.default;

export const DEFAULT_RELAY_COILS: RelayCoilMap = { power: 0, zones: [1, 2, 3] };

export class ModbusRelayDriver extends EventEmitter implements AmplifierController {
  private readonly client: ModbusClient;
  private readonly coils: RelayCoilMap;
  private readonly stats = { framesSent: 0, framesReceived: 0, crcErrors: 0, timeouts: 0, retries: 0, reconnects: 0 };
  private linkUp = false;
  private everConnected = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly logger: Logger;

  constructor(private readonly o: ModbusRelayOptions) {
    super();
    this.client = o.client ?? new ModbusRTU();
    this.coils = o.coils ?? DEFAULT_RELAY_COILS;
    this.logger = o.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    await this.open().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'relay board not reachable at start'));
  }

  private async open(): Promise<void> {
    if (this.client.isOpen) return;
    await this.client.connectRTUBuffered(this.o.path, { baudRate: this.o.baudRate ?? 9600, dataBits: 8, stopBits: 1, parity: 'none' });
    this.client.setID(this.o.unitId ?? 1);
    this.client.setTimeout(this.o.timeoutMs ?? 500);
    if (this.everConnected) this.stats.reconnects++;
    this.everConnected = true;
    this.linkUp = true;
    this.emit('event', { type: 'link', up: true } satisfies AmpEvent);
  }

  private markDown(): void {
    if (!this.linkUp) return;
    this.linkUp = false;
    this.emit('event', { type: 'link', up: false } satisfies AmpEvent);
    this.client.close(() => undefined);
  }

  /** One request at a time, retried on timeouts; the port is reopened if it went away. */
  private run<T>(what: string, op: () => Promise<T>): Promise<T> {
    const attempt = async (): Promise<T> => {
      const tries = (this.o.retries ?? 2) + 1;
      let last: unknown;
      for (let i = 0; i < tries; i++) {
        try {
          await this.open();
        } catch (err) {
          this.markDown();
          throw ampError('LOA_ERR_LINK_DOWN', (err as Error).message);
        }
        try {
          this.stats.framesSent++;
          const result = await op();
          this.stats.framesReceived++;
          return result;
        } catch (err) {
          last = err;
          const e = err as { name?: string; errno?: string; message?: string };
          if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') this.stats.timeouts++;
          else if (/crc/i.test(e.message ?? '')) this.stats.crcErrors++;
          else if (/port not open|closed/i.test(e.message ?? '')) this.markDown();
          else if (e.name === 'ModbusException' || /exception/i.test(e.message ?? '')) throw ampError('LOA_ERR_AMP_NACK', `${what}: ${e.message}`);
          if (i < tries - 1) this.stats.retries++;
        }
      }
      throw ampError('LOA_ERR_AMP_TIMEOUT', `${what}: ${(last as Error)?.message ?? 'no answer'}`);
    };
    const next = this.chain.then(attempt, attempt);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async powerOn(): Promise<void> {
    await this.run('write power coil', () => this.client.writeCoil(this.coils.power, true));
  }

  async powerOff(): Promise<void> {
    await this.run('write power coil', () => this.client.writeCoil(this.coils.power, false));
  }

  /** Relay boards have no volume control: the agent applies volume in software. */
  async setVolume(_db: number): Promise<void> {}

  /** Zone relays in one FC0F request: bit n of the mask is zone n. */
  async setZones(mask: number): Promise<void> {
    const states = this.coils.zones.map((_, i) => (mask & (1 << i)) !== 0);
    const first = Math.min(...this.coils.zones);
    const contiguous = this.coils.zones.every((c, i) => c === first + i);
    if (contiguous) {
      await this.run('write zone coils', () => this.client.writeCoils(first, states));
      return;
    }
    for (const [i, coil] of this.coils.zones.entries()) await this.run('write zone coil', () => this.client.writeCoil(coil, states[i]!));
  }

  async status(): Promise<AmpStatus> {
    const all = [this.coils.power, ...this.coils.zones];
    const from = Math.min(...all);
    const count = Math.max(...all) - from + 1;
    const res = await this.run('read coils', () => this.client.readCoils(from, count));
    return { power: res.data[this.coils.power - from] === true, faults: [] };
  }

  /** Zone relay states, zone 0 first. */
  async zones(): Promise<boolean[]> {
    const from = Math.min(...this.coils.zones);
    const res = await this.run('read coils', () => this.client.readCoils(from, Math.max(...this.coils.zones) - from + 1));
    return this.coils.zones.map((c) => res.data[c - from] === true);
  }

  counters(): LinkCounters {
    return { ...this.stats };
  }

  async stop(): Promise<void> {
    await this.chain;
    this.linkUp = false;
    if (this.client.isOpen) await new Promise<void>((r) => this.client.close(() => r()));
  }
}
