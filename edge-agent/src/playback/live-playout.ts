/**
 * A live announcement played on its session's timeline (issue 18, decision 0025): frame n of the
 * session sounds at `anchorMs + n × 20 ms`, server time, on every speaker of the area at once.
 *
 * Frames arrive in signed groups, early by the playout delay less the network's delay, and wait
 * here by index. A pacer hands the output each frame a little ahead of its instant (LEAD_MS), as
 * the file player does: decoded if it came, concealed by Opus if it did not (up to CONCEAL_FRAMES
 * in a row, then silence), so the output keeps time through a lost frame, a stall or a cut link.
 * A frame that comes after its turn is dropped and counted: a speaker that rejoins takes the
 * frames still ahead of it and never plays a backlog. The pacer keeps the output's time (this
 * host's monotonic clock) and follows server time as the agent measures it: if that estimate
 * moves ahead, or the process was held up until the output ran dry, frames are skipped rather
 * than played late; if it moves back, silence is put in.
 */
import { performance } from 'node:perf_hooks';
import OpusScript from 'opusscript';
import { LIVE_FRAME_MS } from '@loalang/protocol';
import { BYTES_PER_MS, type PcmOutput } from './pcm-output.js';

/** How far ahead of its instant a frame is handed to the output (as the file player does). */
export const LIVE_LEAD_MS = 100;
/** Missing frames in a row concealed by Opus; after them, silence. */
export const CONCEAL_FRAMES = 3;
/** Real time (Node timers), not the injected clock: samples follow the sound card. */
const TICK_MS = 10;
const FRAME_BYTES = LIVE_FRAME_MS * BYTES_PER_MS;
/** A move of server time this large (ms) is followed; smaller ones are the estimate's noise. */
const FOLLOW_MS = 3;
/** Frames kept waiting: 30 s ahead is far more than any playout delay. */
const MAX_WAITING = 1500;

/** Decodes one session's Opus frames, each to 20 ms of s16le mono 48 kHz PCM. */
export interface LiveFrameDecoder {
  decode(packet: Buffer): Buffer;
  /** 20 ms that stand in for a frame that did not come. */
  conceal(): Buffer;
  close(): void;
}

/** libopus (WebAssembly, opusscript): no native build on any architecture. */
export function opusFrameDecoder(): LiveFrameDecoder {
  const opus = new OpusScript(48000, 1, OpusScript.Application.AUDIO);
  const fit = (pcm: Buffer) => (pcm.length === FRAME_BYTES ? pcm : pcm.length > FRAME_BYTES ? pcm.subarray(0, FRAME_BYTES) : Buffer.concat([pcm, Buffer.alloc(FRAME_BYTES - pcm.length)]));
  return {
    decode: (packet) => fit(opus.decode(packet)),
    // libopus conceals when given no packet (it answers with its longest frame: 20 ms of it are used).
    conceal: () => fit(opus.decode(Buffer.alloc(0))),
    close: () => opus.delete(),
  };
}

export interface LivePlayoutOptions {
  anchorMs: number;
  /** Server time now, as the agent measures it. */
  serverNow: () => number;
  output: PcmOutput;
  decoder: LiveFrameDecoder;
}

export interface LivePlayoutStats {
  /** The first frame this speaker played (-1: none yet). */
  firstIndex: number;
  /** Frames handed to the output: decoded, concealed, and silent (once concealment ran out, or put in when server time stepped back). */
  decoded: number;
  concealed: number;
  silent: number;
  /** Frames that came after their turn, or never got one (skipped to keep time). */
  late: number;
  skipped: number;
  /** Frames that could not be decoded (counted as concealed). */
  broken: number;
}

export interface LiveOutcome extends LivePlayoutStats {
  /** Audio handed to the output, ms (decoded and concealed frames; silence not counted). */
  playedMs: number;
  stopped: boolean;
  error?: string;
}

export class LivePlayout {
  private readonly waiting = new Map<number, Buffer>();
  private next = -1;
  /** Server time less this host's monotonic time, as the frames handed over so far were timed. */
  private offset = 0;
  private lastIndex = Number.POSITIVE_INFINITY;
  private missingInARow = 0;
  /** Bytes still to cut from the next frames: server time moved ahead by less than a frame. */
  private trimBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  private readonly counts: LivePlayoutStats = { firstIndex: -1, decoded: 0, concealed: 0, silent: 0, late: 0, skipped: 0, broken: 0 };
  private settle!: (o: LiveOutcome) => void;
  /** Settles when the session's last frame has sounded, or the playout was stopped. */
  readonly done: Promise<LiveOutcome>;

  constructor(private readonly o: LivePlayoutOptions) {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  /** When frame `index` sounds, server time. */
  instantOf(index: number): number {
    return this.o.anchorMs + index * LIVE_FRAME_MS;
  }

  /** Frames of a (verified) group; those whose turn has passed are dropped. */
  accept(firstIndex: number, frames: readonly Buffer[]): void {
    if (this.finished) return;
    frames.forEach((frame, i) => {
      const index = firstIndex + i;
      if (index > this.lastIndex) return;
      if (this.next >= 0 && index < this.next) {
        this.counts.late++;
        return;
      }
      // An empty packet stands for a frame the node left out: it never replaces one that came.
      if (frame.length === 0 && this.waiting.get(index)?.length) return;
      if (this.waiting.size < MAX_WAITING) this.waiting.set(index, frame);
    });
  }

  /** Starts with the first frame whose instant is still at least LIVE_LEAD_MS ahead; the output gets silence until it. */
  start(): void {
    if (this.next >= 0 || this.finished) return;
    const now = this.o.serverNow();
    this.offset = now - performance.now();
    this.next = Math.max(0, Math.ceil((now + LIVE_LEAD_MS - this.o.anchorMs) / LIVE_FRAME_MS));
    this.counts.firstIndex = this.next;
    for (const index of this.waiting.keys()) if (index < this.next) this.waiting.delete(index);
    this.o.output.lead(this.instantOf(this.next) - now);
    this.pump();
  }

  /** The session ends after frame `lastIndex` (-1: before any); the output finishes once it sounded. */
  end(lastIndex: number): void {
    this.lastIndex = Math.min(this.lastIndex, lastIndex);
    for (const index of this.waiting.keys()) if (index > this.lastIndex) this.waiting.delete(index);
    if (this.next < 0) this.next = this.lastIndex + 1;
    if (this.next > this.lastIndex && !this.timer) void this.finish(false);
  }

  /** Stops now (preempted, or the session lost). */
  stop(): void {
    void this.finish(true);
  }

  stats(): LivePlayoutStats {
    return { ...this.counts };
  }

  private pump(): void {
    this.timer = null;
    if (this.finished) return;
    const host = performance.now();
    // The output plays what it was given one sample after another, on its own clock. If the
    // agent's measure of server time moved (a clock-sync correction), the frames it holds now
    // sound early or late by that much: frames are skipped, or silence is put in, to follow; what
    // is left of a frame, as samples cut from the next frame or silence put in before it.
    const moved = this.o.serverNow() - host - this.offset;
    if (Math.abs(moved) >= FOLLOW_MS) {
      const frames = Math.round(moved / LIVE_FRAME_MS);
      if (frames > 0) this.skip(frames);
      else
        for (let i = 0; i < -frames; i++) {
          if (!this.write(Buffer.alloc(FRAME_BYTES))) return;
          this.counts.silent++;
        }
      this.offset += frames * LIVE_FRAME_MS;
      const rest = moved - frames * LIVE_FRAME_MS;
      if (Math.abs(rest) >= FOLLOW_MS) {
        const restBytes = Math.round(Math.abs(rest) * (BYTES_PER_MS / 2)) * 2;
        if (rest > 0) this.trimBytes += restBytes;
        else if (!this.write(Buffer.alloc(restBytes))) return;
        this.offset += rest;
      }
    }
    // Held up past what the output held (it ran dry): what was due meanwhile is skipped, not played late.
    const late = Math.floor((host - this.hostInstantOf(this.next)) / LIVE_FRAME_MS);
    if (late > 0) {
      this.o.output.ranDry(late * LIVE_FRAME_MS);
      this.skip(late);
    }
    while (this.next <= this.lastIndex && this.hostInstantOf(this.next) <= host + LIVE_LEAD_MS) {
      let pcm = this.frame(this.next);
      if (this.trimBytes > 0) {
        const cut = Math.min(this.trimBytes, pcm.length);
        pcm = pcm.subarray(cut);
        this.trimBytes -= cut;
      }
      if (pcm.length > 0 && !this.write(pcm)) return;
      this.next++;
    }
    if (this.next > this.lastIndex) {
      // The last frame was handed over: wait until it has sounded.
      this.timer = setTimeout(() => void this.finish(false), Math.max(0, this.hostInstantOf(this.next) - performance.now()));
      return;
    }
    this.timer = setTimeout(() => this.pump(), TICK_MS);
  }

  /** When frame `index` sounds on this host's monotonic clock (performance.now). */
  private hostInstantOf(index: number): number {
    return this.instantOf(index) - this.offset;
  }

  private skip(frames: number): void {
    const to = Math.min(this.next + frames, this.lastIndex + 1);
    for (let i = this.next; i < to; i++) this.waiting.delete(i);
    this.counts.skipped += to - this.next;
    this.next = to;
  }

  private write(pcm: Buffer): boolean {
    if (this.o.output.write(pcm)) return true;
    void this.finish(true, 'the audio output stopped');
    return false;
  }

  private frame(index: number): Buffer {
    const packet = this.waiting.get(index);
    this.waiting.delete(index);
    if (packet && packet.length > 0) {
      try {
        const pcm = this.o.decoder.decode(packet);
        this.missingInARow = 0;
        this.counts.decoded++;
        return pcm;
      } catch {
        this.counts.broken++;
      }
    }
    this.missingInARow++;
    if (this.missingInARow <= CONCEAL_FRAMES) {
      this.counts.concealed++;
      return this.o.decoder.conceal();
    }
    this.counts.silent++;
    return Buffer.alloc(FRAME_BYTES);
  }

  private async finish(stopped: boolean, error?: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.waiting.clear();
    const out = stopped ? await this.o.output.abort() : await this.o.output.end();
    this.o.decoder.close();
    const failure = error ?? (!stopped && out.code !== 0 ? `output exit ${out.code}: ${out.error ?? ''}` : undefined);
    this.settle({ ...this.counts, playedMs: (this.counts.decoded + this.counts.concealed) * LIVE_FRAME_MS, stopped, ...(failure ? { error: failure } : {}) });
  }
}
