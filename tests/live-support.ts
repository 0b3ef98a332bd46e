/**
 * Helpers of the live-announcement tests (issue 18): a known Vietnamese recording as 48 kHz
 * samples and as Opus frames, a source that feeds them in real time over the feed socket noting
 * when each went, a WAV reader, and cross-correlation that finds where the recording sits in what
 * a speaker's sink wrote.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import OpusScript from 'opusscript';
import WebSocket from 'ws';

export const RATE = 48_000;
export const FRAME_SAMPLES = 960;
const wallNow = () => performance.timeOrigin + performance.now();

/** 48 kHz mono samples of any audio file (through ffmpeg). */
export function pcmOf(file: string): Int16Array {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 's16le', '-ac', '1', '-ar', String(RATE), 'pipe:1'], { maxBuffer: 512 * 1024 * 1024 });
  return new Int16Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 2));
}

/** A Vietnamese announcement spoken by espeak-ng, as 48 kHz samples. */
export function spokenAnnouncement(dir: string, text: string): Int16Array {
  const wav = join(dir, `announcement-${Date.now()}.wav`);
  execFileSync('espeak-ng', ['-v', 'vi', '-w', wav, '--', text]);
  return pcmOf(wav);
}

/** Opus frames of 20 ms (libopus, as a browser's encoder would make them, 24 kb/s). */
export function opusFramesOf(pcm: Int16Array): Buffer[] {
  const opus = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
  opus.setBitrate(24_000);
  const frames: Buffer[] = [];
  for (let at = 0; at + FRAME_SAMPLES <= pcm.length; at += FRAME_SAMPLES) {
    const chunk = Buffer.from(pcm.buffer, pcm.byteOffset + at * 2, FRAME_SAMPLES * 2);
    frames.push(Buffer.from(opus.encode(chunk, FRAME_SAMPLES)));
  }
  opus.delete();
  return frames;
}

export interface FedSource {
  /** Wall-clock ms at which each frame was sent (its last sample "spoken" just before). */
  sentAt: number[];
  events: { type: string; [k: string]: unknown }[];
  /** Resolves when the server closed the socket (the session ended). */
  closed: Promise<number>;
  socket: WebSocket;
}

/** Opens the feed socket and sends one frame every 20 ms, on a schedule that does not drift; `{"type":"end"}` after the last unless told not to. */
export async function feedInRealTime(url: string, frames: Buffer[], opts: { end?: boolean } = {}): Promise<FedSource> {
  const socket = new WebSocket(url);
  const events: FedSource['events'] = [];
  socket.on('message', (data, isBinary) => {
    if (!isBinary) events.push(JSON.parse(data.toString()) as FedSource['events'][number]);
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const sentAt: number[] = [];
  const t0 = wallNow() + 20;
  for (let i = 0; i < frames.length; i++) {
    const due = t0 + i * 20;
    const wait = due - wallNow();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const message = Buffer.alloc(4 + frames[i]!.length);
    message.writeUInt32BE(i, 0);
    frames[i]!.copy(message, 4);
    socket.send(message);
    sentAt.push(wallNow());
  }
  if (opts.end !== false) socket.send(JSON.stringify({ type: 'end' }));
  return { sentAt, events, closed, socket };
}

/** What a file sink wrote for a play: its samples, and the wall-clock ms its first sample sounded. */
export function sinkOf(sinkDir: string, playId: string): { pcm: Int16Array; startMs: number } {
  return { pcm: pcmOf(join(sinkDir, `${playId}.wav`)), startMs: Number(readFileSync(join(sinkDir, `${playId}.wav.start`), 'utf8')) };
}

/** 8 kHz floats (6 samples averaged: enough low-pass for speech). */
function decimate(pcm: Int16Array): Float64Array {
  const out = new Float64Array(Math.floor(pcm.length / 6));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < 6; k++) sum += pcm[i * 6 + k]!;
    out[i] = sum / 6;
  }
  return out;
}

function envelope(x: Float64Array, window: number): Float64Array {
  const out = new Float64Array(Math.floor(x.length / window));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < window; k++) sum += x[i * window + k]! ** 2;
    out[i] = Math.sqrt(sum / window);
  }
  return out;
}

/** Normalised correlation of a and b shifted by `lag` (b[i + lag] against a[i]), over their overlap (or `from`–`to` of a). */
function correlationAt(a: Float64Array, b: Float64Array, lag: number, from = 0, to = a.length): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  const start = Math.max(from, -lag);
  const end = Math.min(to, b.length - lag);
  for (let i = start; i < end; i++) {
    const x = a[i]!;
    const y = b[i + lag]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

export interface Alignment {
  /** Where source sample 0 sits in the heard samples (48 kHz samples; may be negative). */
  lagSamples: number;
  /** Normalised cross-correlation at that lag (1: the same waveform). */
  correlation: number;
}

/** Finds the recording in what was heard: envelopes (10 ms) first, then the samples (at 8 kHz) around it. */
export function align(source: Int16Array, heard: Int16Array): Alignment {
  const a = decimate(source);
  const b = decimate(heard);
  const ea = envelope(a, 80);
  const eb = envelope(b, 80);
  let best = { lag: 0, c: -Infinity };
  for (let lag = -ea.length + 50; lag < eb.length - 50; lag++) {
    const c = correlationAt(ea, eb, lag);
    if (c > best.c) best = { lag, c };
  }
  let fine = { lag: best.lag * 80, c: -Infinity };
  for (let lag = best.lag * 80 - 160; lag <= best.lag * 80 + 160; lag++) {
    const c = correlationAt(a, b, lag);
    if (c > fine.c) fine = { lag, c };
  }
  return { lagSamples: fine.lag * 6, correlation: fine.c };
}

/**
 * The lag that best fits source samples `from`–`to`, within `searchMs` of `lagGuess` (48 kHz
 * samples): a part of what was heard, aligned on its own.
 */
export function alignNear(source: Int16Array, heard: Int16Array, lagGuess: number, from: number, to: number, searchMs = 500): Alignment {
  const a = decimate(source);
  const b = decimate(heard);
  const guess = Math.round(lagGuess / 6);
  const span = Math.round(searchMs * 8);
  let best = { lag: guess, c: -Infinity };
  for (let lag = guess - span; lag <= guess + span; lag++) {
    const c = correlationAt(a, b, lag, Math.floor(from / 6), Math.floor(to / 6));
    if (c > best.c) best = { lag, c };
  }
  return { lagSamples: best.lag * 6, correlation: best.c };
}

/** The correlation at a known lag over source samples `from`–`to` (48 kHz indices). */
export function correlationOver(source: Int16Array, heard: Int16Array, lagSamples: number, from: number, to: number): number {
  return correlationAt(decimate(source), decimate(heard), Math.round(lagSamples / 6), Math.floor(from / 6), Math.floor(to / 6));
}

/** RMS of the 20 ms of samples from `start` (0 outside the samples). */
export function rmsAt(pcm: Int16Array, start: number): number {
  let sum = 0;
  const from = Math.max(0, Math.round(start));
  for (let k = from; k < Math.min(pcm.length, from + FRAME_SAMPLES); k++) sum += pcm[k]! ** 2;
  return Math.sqrt(sum / FRAME_SAMPLES);
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
