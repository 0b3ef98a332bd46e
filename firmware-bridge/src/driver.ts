/**
 * Driver for our amplifier board: one command in flight, responses matched by sequence,
 * timeouts with retries, unsolicited events, a failsafe heartbeat, and reopening the link
 * when the port disappears (USB unplug) until it comes back.
 */
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '@loalang/protocol';
import type { AmpEvent, AmpStatus, AmplifierController, LinkCounters } from './amplifier.js';
import { CMD, FAULTS, NACK_CODES, PROTOCOL_VERSION, decodeStatus, encodeVolume, VOLUME_MIN_DB } from './commands.js';
import { ampError } from './errors.js';
import { encodeFrame, type Frame } from './frame.js';
import { FrameParser } from './parser.js';
import type { SerialLink } from './serial-link.js';

export interface DriverOptions {
  timeoutMs?: number;
  retries?: number;
  /** Failsafe: the board switches off if it hears nothing for this long (s). */
  failsafeSec?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  logger?: Logger;
}

interface Pending {
  cmd: number;
  payload: Buffer;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
}

export class BoardDriver extends EventEmitter implements AmplifierController {
  private readonly parser: FrameParser;
  private readonly queue: Pending[] = [];
  private inFlight: { seq: number; job: Pending; timer: NodeJS.Timeout; attempt: number } | null = null;
  private seq = 0;
  private running = false;
  private linkUp = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  /** Reported by the board in its HELLO answer. */
  firmwareVersion: string | null = null;
  private lastError: string | null = null;
  private readonly stats = { framesSent: 0, framesReceived: 0, timeouts: 0, retries: 0, reconnects: 0 };
  private readonly opts: Required<Omit<DriverOptions, 'logger'>>;
  private readonly logger: Logger;

  constructor(
    private readonly link: SerialLink,
    options: DriverOptions = {},
  ) {
    super();
    this.opts = {
      timeoutMs: options.timeoutMs ?? 300,
      retries: options.retries ?? 2,
      failsafeSec: options.failsafeSec ?? 30,
      reconnectMinMs: options.reconnectMinMs ?? 500,
      reconnectMaxMs: options.reconnectMaxMs ?? 10_000,
    };
    this.logger = options.logger ?? silentLogger;
    this.reconnectDelay = this.opts.reconnectMinMs;
    this.parser = new FrameParser((f) => this.onFrame(f));
  }

  async start(): Promise<void> {
    this.running = true;
    this.link.on('data', (chunk) => this.parser.push(chunk));
    this.link.on('close', () => this.onLinkLost());
    this.link.on('error', (err) => this.logger.warn({ err: err.message }, 'serial link error'));
    try {
      await this.connect();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'amplifier board not reachable at start; retrying in background');
      this.scheduleReconnect();
    }
  }

  private async connect(): Promise<void> {
    try {
      await this.handshake();
      this.lastError = null;
    } catch (err) {
      this.linkUp = false;
      this.lastError = (err as Error).message;
      throw err;
    }
    this.reconnectDelay = this.opts.reconnectMinMs;
    this.armHeartbeat();
    this.emit('event', { type: 'link', up: true } satisfies AmpEvent);
  }

  /** Opens the port, checks the board's protocol version and sets its failsafe. */
  private async handshake(): Promise<void> {
    if (!this.link.isOpen) await this.link.open();
    this.linkUp = true;
    this.parser.reset();
    const hello = await this.request(CMD.HELLO, Buffer.alloc(0));
    if (hello[0] !== PROTOCOL_VERSION) {
      this.linkUp = false;
      throw ampError('LOA_ERR_AMP_NACK', `board speaks protocol ${hello[0]}, this driver ${PROTOCOL_VERSION}`);
    }
    this.firmwareVersion = `${hello[1]}.${hello[2]}`;
    await this.request(CMD.SET_FAILSAFE, Buffer.from([this.opts.failsafeSec >> 8, this.opts.failsafeSec & 0xff]));
  }

  private armHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    // Three heartbeats per failsafe period, so one lost frame never trips it.
    this.heartbeat = setInterval(() => {
      this.request(CMD.HEARTBEAT, Buffer.alloc(0)).catch(() => undefined);
    }, Math.max(100, (this.opts.failsafeSec * 1000) / 3));
  }

  private onLinkLost(): void {
    if (!this.linkUp) return;
    this.linkUp = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.failAll(ampError('LOA_ERR_LINK_DOWN'));
    this.emit('event', { type: 'link', up: false } satisfies AmpEvent);
    if (this.running) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().then(
        () => {
          this.stats.reconnects++;
          this.logger.info({}, 'amplifier board link restored');
        },
        () => {
          this.linkUp = false;
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.opts.reconnectMaxMs);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.heartbeat = this.reconnectTimer = null;
    this.failAll(ampError('LOA_ERR_AMP_STOPPED'));
    this.linkUp = false;
    await this.link.close();
  }

  private failAll(err: Error): void {
    if (this.inFlight) {
      clearTimeout(this.inFlight.timer);
      this.inFlight.job.reject(err);
      this.inFlight = null;
    }
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  /** Sends one command; resolves with the ACK payload. */
  request(cmd: number, payload: Buffer): Promise<Buffer> {
    if (!this.running) return Promise.reject(ampError('LOA_ERR_AMP_STOPPED'));
    if (!this.linkUp) return Promise.reject(ampError('LOA_ERR_LINK_DOWN', this.lastError ?? undefined));
    return new Promise((resolve, reject) => {
      this.queue.push({ cmd, payload, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    this.send(this.queue.shift()!, 0);
  }

  private send(job: Pending, attempt: number): void {
    this.seq = (this.seq + 1) & 0xff;
    const seq = this.seq;
    const timer = setTimeout(() => this.onTimeout(seq), this.opts.timeoutMs);
    this.inFlight = { seq, job, timer, attempt };
    this.stats.framesSent++;
    this.link.write(encodeFrame({ seq, cmd: job.cmd, payload: job.payload })).catch((err: unknown) => {
      this.logger.debug({ err: (err as Error).message }, 'serial write failed');
    });
  }

  private onTimeout(seq: number): void {
    const f = this.inFlight;
    if (!f || f.seq !== seq) return;
    this.stats.timeouts++;
    this.inFlight = null;
    if (f.attempt < this.opts.retries) {
      this.stats.retries++;
      this.send(f.job, f.attempt + 1);
      return;
    }
    f.job.reject(ampError('LOA_ERR_AMP_TIMEOUT', `command 0x${f.job.cmd.toString(16)} after ${f.attempt + 1} tries`));
    this.pump();
  }

  private onFrame(frame: Frame): void {
    this.stats.framesReceived++;
    if (frame.cmd === CMD.EVENT) {
      const fault = FAULTS[frame.payload[0] ?? 0] ?? `fault-${frame.payload[0]}`;
      this.emit('event', { type: 'fault', fault, active: frame.payload[1] === 1 } satisfies AmpEvent);
      return;
    }
    const f = this.inFlight;
    if (!f || frame.seq !== f.seq) return; // a late answer to a retried request
    clearTimeout(f.timer);
    this.inFlight = null;
    if (frame.cmd === CMD.ACK) f.job.resolve(frame.payload);
    else f.job.reject(ampError('LOA_ERR_AMP_NACK', NACK_CODES[frame.payload[0] ?? 0] ?? `code ${frame.payload[0]}`));
    this.pump();
  }

  async powerOn(): Promise<void> {
    await this.request(CMD.POWER, Buffer.from([1]));
  }

  async powerOff(): Promise<void> {
    await this.request(CMD.POWER, Buffer.from([0]));
  }

  async setVolume(db: number): Promise<void> {
    await this.request(CMD.VOLUME, encodeVolume(Math.max(VOLUME_MIN_DB, Math.min(0, db))));
  }

  /** Zone relays: bit n of the mask is zone n. */
  async setZones(mask: number): Promise<void> {
    await this.request(CMD.ZONES, Buffer.from([mask & 0xff]));
  }

  async setMute(muted: boolean): Promise<void> {
    await this.request(CMD.MUTE, Buffer.from([muted ? 1 : 0]));
  }

  /** The board's own test tone through the amplifier (refused while it is off). */
  async testTone(seconds: number): Promise<void> {
    await this.request(CMD.TEST_TONE, Buffer.from([Math.max(1, Math.min(255, Math.round(seconds)))]));
  }

  async status(): Promise<AmpStatus> {
    return decodeStatus(await this.request(CMD.STATUS, Buffer.alloc(0)));
  }

  counters(): LinkCounters & { discardedBytes: number } {
    return { ...this.stats, crcErrors: this.parser.counters.crcErrors, discardedBytes: this.parser.counters.discardedBytes };
  }
}
