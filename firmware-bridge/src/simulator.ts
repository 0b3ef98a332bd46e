/**
 * A board simulator that speaks the same protocol from the other end of a link: power with
 * soft-start, zones, volume, mute, temperature that rises while the amplifier is on, the
 * failsafe, and faults on demand (dropped, corrupted or delayed frames, over-temperature,
 * speaker line, mains, tamper).
 */
import { CMD, FAULTS, encodeStatus, PROTOCOL_VERSION, VOLUME_MIN_DB } from './commands.js';
import { encodeFrame, type Frame } from './frame.js';
import { FrameParser } from './parser.js';
import type { SerialLink } from './serial-link.js';

export interface SimulatorFaults {
  /** Answer nothing to the next N requests. */
  dropNext?: number;
  /** Flip a byte in the next N answers. */
  corruptNext?: number;
  /** Put random line noise (start bytes included) before the next N answers. */
  noiseNext?: number;
  delayMs?: number;
  overTemperature?: boolean;
  speakerLineFault?: boolean;
  mainsLost?: boolean;
  tamper?: boolean;
}

const FAULT_IDS = Object.fromEntries(Object.entries(FAULTS).map(([id, name]) => [name, Number(id)]));
const AMBIENT_C = 30;

export class BoardSimulator {
  readonly state = { power: false, zones: 0x01, volumeDb: -10, muted: false, temperatureC: AMBIENT_C, failsafeSec: 30, failsafeTrips: 0 };
  private faults: Required<SimulatorFaults> = { dropNext: 0, corruptNext: 0, noiseNext: 0, delayMs: 0, overTemperature: false, speakerLineFault: false, mainsLost: false, tamper: false };
  private readonly parser = new FrameParser((f) => this.onFrame(f));
  private readonly startedAt = Date.now();
  private lastHeard = Date.now();
  private lastThermal = Date.now();
  private ticker: NodeJS.Timeout | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly onData = (chunk: Buffer) => this.parser.push(chunk);

  constructor(
    private readonly link: SerialLink,
    private readonly options: { softStartMs?: number; heatPerSec?: number } = {},
  ) {}

  async start(): Promise<void> {
    if (!this.link.isOpen) await this.link.open();
    this.link.on('data', this.onData);
    this.ticker = setInterval(() => this.tick(), 100);
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.link.off('data', this.onData);
    await this.link.close();
  }

  inject(faults: SimulatorFaults): void {
    const before = { ...this.faults };
    this.faults = { ...this.faults, ...faults };
    for (const [key, name] of [
      ['overTemperature', 'over-temperature'],
      ['speakerLineFault', 'speaker-line'],
      ['mainsLost', 'mains-lost'],
      ['tamper', 'tamper'],
    ] as const) {
      if (before[key] !== this.faults[key]) this.sendEvent(name, this.faults[key]);
    }
    if (faults.overTemperature) this.state.power = false;
  }

  private tick(): void {
    const now = Date.now();
    const dt = (now - this.lastThermal) / 1000;
    this.lastThermal = now;
    // Heats while on, cools towards ambient while off: enough to watch a trend.
    const heat = this.options.heatPerSec ?? 0.2;
    this.state.temperatureC = this.state.power ? this.state.temperatureC + heat * dt : Math.max(AMBIENT_C, this.state.temperatureC - heat * dt);
    if (this.state.power && now - this.lastHeard > this.state.failsafeSec * 1000) {
      this.state.power = false;
      this.state.failsafeTrips++;
      this.sendEvent('failsafe-off', true);
    }
  }

  private sendEvent(fault: string, active: boolean): void {
    const id = FAULT_IDS[fault];
    if (id === undefined || !this.link.isOpen) return;
    this.link.write(encodeFrame({ seq: 0, cmd: CMD.EVENT, payload: Buffer.from([id, active ? 1 : 0]) })).catch(() => undefined);
  }

  private reply(seq: number, cmd: number, payload: Buffer, afterMs = 0): void {
    const send = () => {
      if (!this.link.isOpen) return;
      let bytes = encodeFrame({ seq, cmd, payload });
      if (this.faults.noiseNext > 0) {
        this.faults.noiseNext--;
        const noise = Buffer.from(Array.from({ length: 12 }, (_, i) => (i % 4 === 0 ? 0xa5 : Math.floor(Math.random() * 256))));
        bytes = Buffer.concat([noise, bytes]);
      }
      if (this.faults.corruptNext > 0) {
        this.faults.corruptNext--;
        bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x5a;
      }
      this.link.write(bytes).catch(() => undefined);
    };
    const delay = afterMs + this.faults.delayMs;
    if (delay <= 0) return send();
    const t = setTimeout(() => {
      this.timers.delete(t);
      send();
    }, delay);
    this.timers.add(t);
  }

  private ack(seq: number, payload: Buffer = Buffer.alloc(0), afterMs = 0): void {
    this.reply(seq, CMD.ACK, payload, afterMs);
  }

  private nack(seq: number, code: number): void {
    this.reply(seq, CMD.NACK, Buffer.from([code]));
  }

  private onFrame(f: Frame): void {
    this.lastHeard = Date.now();
    if (this.faults.dropNext > 0) {
      this.faults.dropNext--;
      return;
    }
    const p = f.payload;
    switch (f.cmd) {
      case CMD.HELLO:
        return this.ack(f.seq, Buffer.from([PROTOCOL_VERSION, 1, 0]));
      case CMD.HEARTBEAT:
        return this.ack(f.seq);
      case CMD.SET_FAILSAFE:
        if (p.length !== 2) return this.nack(f.seq, 2);
        this.state.failsafeSec = p.readUInt16BE(0) || 30;
        return this.ack(f.seq);
      case CMD.POWER: {
        if (p.length !== 1 || p[0]! > 1) return this.nack(f.seq, p.length !== 1 ? 2 : 3);
        if (p[0] === 1 && this.faults.overTemperature) return this.nack(f.seq, 5);
        this.state.power = p[0] === 1;
        // The board acknowledges power-on after its soft-start.
        return this.ack(f.seq, Buffer.alloc(0), this.state.power ? (this.options.softStartMs ?? 50) : 0);
      }
      case CMD.ZONES:
        if (p.length !== 1) return this.nack(f.seq, 2);
        this.state.zones = p[0]!;
        return this.ack(f.seq);
      case CMD.VOLUME: {
        if (p.length !== 2) return this.nack(f.seq, 2);
        const db = p.readInt16BE(0) / 2;
        if (db < VOLUME_MIN_DB || db > 0) return this.nack(f.seq, 3);
        this.state.volumeDb = db;
        return this.ack(f.seq);
      }
      case CMD.MUTE:
        if (p.length !== 1) return this.nack(f.seq, 2);
        this.state.muted = p[0] === 1;
        return this.ack(f.seq);
      case CMD.TEST_TONE:
        return this.state.power ? this.ack(f.seq) : this.nack(f.seq, 4);
      case CMD.STATUS:
        return this.ack(
          f.seq,
          encodeStatus({
            ...this.state,
            currentMa: this.state.power ? 850 + Math.round(this.state.volumeDb * 5) : 12,
            speakerLineFault: this.faults.speakerLineFault,
            mainsLost: this.faults.mainsLost,
            tamper: this.faults.tamper,
            overTemperature: this.faults.overTemperature,
            uptimeSec: Math.floor((Date.now() - this.startedAt) / 1000),
            firmware: [1, 0],
          }),
        );
      default:
        return this.nack(f.seq, 1);
    }
  }
}
