/**
 * The live playout (issue 18): Opus frames from a real encoder (libopus in WebAssembly), handed
 * out on the session's timeline. With a recording output, to see each frame's moment, and with
 * the real ffmpeg output writing a WAV whose audio is compared with what was said.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { LIVE_FRAME_MS } from '@loalang/protocol';
import { CONCEAL_FRAMES, LIVE_LEAD_MS, LivePlayout, opusFrameDecoder } from '../src/playback/live-playout.js';
import { spawnPcmOutput, type PcmOutput } from '../src/playback/pcm-output.js';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';

const FRAME_SAMPLES = 960;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `seconds` of a voice-like test signal (two tones, amplitude rising and falling), as Opus frames and the PCM they came from. */
function spoken(seconds: number): { frames: Buffer[]; pcm: Int16Array } {
  const encoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  encoder.setBitrate(24_000);
  const count = Math.round((seconds * 1000) / LIVE_FRAME_MS);
  const pcm = new Int16Array(count * FRAME_SAMPLES);
  for (let i = 0; i < pcm.length; i++) {
    const t = i / 48_000;
    pcm[i] = Math.round(6000 * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t)) * (Math.sin(2 * Math.PI * 220 * t) + 0.5 * Math.sin(2 * Math.PI * 660 * t)));
  }
  const frames = [];
  for (let f = 0; f < count; f++) frames.push(encoder.encode(Buffer.from(pcm.buffer, f * FRAME_SAMPLES * 2, FRAME_SAMPLES * 2), FRAME_SAMPLES));
  encoder.delete();
  return { frames, pcm };
}

/** An output that notes when each chunk was handed over (server time here is this host's). */
function recordingOutput(): PcmOutput & { chunks: { at: number; bytes: Buffer }[]; leadMs: number; dryMs: number } {
  const out = {
    chunks: [] as { at: number; bytes: Buffer }[],
    leadMs: 0,
    dryMs: 0,
    write: (bytes: Buffer) => (out.chunks.push({ at: Date.now(), bytes }), true),
    lead: (ms: number) => void (out.leadMs = ms),
    ranDry: (ms: number) => void (out.dryMs += ms),
    end: async () => ({ code: 0 }),
    abort: async () => ({ code: 0 }),
  };
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a live announcement played on its timeline', () => {
  it('hands each frame over just ahead of its instant, conceals a lost group, and drops what comes after its turn', async () => {
    const { frames } = spoken(1.2); // 60 frames, 20 groups of 3
    const output = recordingOutput();
    const anchorMs = Date.now() + 300;
    const playout = new LivePlayout({ anchorMs, serverNow: Date.now, output, decoder: opusFrameDecoder() });
    playout.start();
    // Groups arrive 250 ± 50 ms ahead of their first frame's instant, except: group 5 is lost,
    // group 12 comes 100 ms after its instant (too late), group 16 only just in time.
    for (let g = 0; g < 20; g++) {
      const first = g * 3;
      const due = anchorMs + first * LIVE_FRAME_MS;
      const at = g === 5 ? null : g === 12 ? due + 100 : g === 16 ? due - LIVE_LEAD_MS - 5 : due - 250 + (Math.random() * 100 - 50);
      if (at !== null) setTimeout(() => playout.accept(first, frames.slice(first, first + 3)), Math.max(0, at - Date.now()));
    }
    setTimeout(() => playout.end(59), 1_000);
    const outcome = await playout.done;
    expect(outcome).toMatchObject({ firstIndex: 0, decoded: 54, concealed: 6, silent: 0, late: 3, skipped: 0, stopped: false, playedMs: 1_200 });
    const writes = output.chunks;
    expect(writes).toHaveLength(60);
    for (const [i, w] of writes.entries()) {
      expect(w.bytes.length).toBe(FRAME_SAMPLES * 2);
      const instant = anchorMs + i * LIVE_FRAME_MS;
      expect(w.at, `frame ${i}`).toBeLessThanOrEqual(instant);
      expect(w.at, `frame ${i}`).toBeGreaterThanOrEqual(instant - LIVE_LEAD_MS - 40); // a timer tick and event-loop slack
    }
    expect(output.leadMs).toBeGreaterThanOrEqual(LIVE_LEAD_MS);
  });

  it('rejoins at the live point: a speaker starting late takes the frames still ahead and never plays a backlog', async () => {
    const { frames } = spoken(1);
    const output = recordingOutput();
    const anchorMs = Date.now() - 400; // the session started 400 ms ago
    const playout = new LivePlayout({ anchorMs, serverNow: Date.now, output, decoder: opusFrameDecoder() });
    playout.accept(0, frames.slice(0, 30)); // the backlog it was sent on rejoining
    playout.start();
    const first = playout.stats().firstIndex;
    expect(first).toBeGreaterThanOrEqual((400 + LIVE_LEAD_MS) / LIVE_FRAME_MS);
    expect(first).toBeLessThanOrEqual((400 + LIVE_LEAD_MS) / LIVE_FRAME_MS + 2);
    playout.accept(30, frames.slice(30));
    playout.accept(40, [Buffer.alloc(0)]); // an empty place for a frame already here never replaces it
    playout.accept(0, frames.slice(0, 3)); // a resend of what already passed
    playout.end(49);
    const outcome = await playout.done;
    expect(outcome.decoded).toBe(50 - first);
    expect(outcome.late).toBe(3);
    expect(output.chunks).toHaveLength(50 - first);
  });

  it('keeps time through a cut: conceals three frames, then silence, and skips the frames a step of server time put behind it', async () => {
    const { frames } = spoken(1);
    const output = recordingOutput();
    let shift = 0;
    const anchorMs = Date.now() + 150;
    const playout = new LivePlayout({ anchorMs, serverNow: () => Date.now() + shift, output, decoder: opusFrameDecoder() });
    playout.accept(0, frames.slice(0, 10)); // then the link is cut: frames 10–49 never come
    playout.start();
    await sleep(500);
    shift = 200; // the agent's measure of server time moves 200 ms ahead: ten frames are skipped, not played 200 ms late
    playout.end(49);
    const outcome = await playout.done;
    expect(outcome.decoded).toBe(10);
    expect(outcome.concealed).toBe(CONCEAL_FRAMES);
    expect(outcome.skipped).toBe(10);
    expect(outcome.decoded + outcome.concealed + outcome.silent + outcome.skipped).toBe(50);
    expect(output.chunks.slice(10 + CONCEAL_FRAMES).every((c) => c.bytes.every((b) => b === 0))).toBe(true);
  });

  it('held up past what the output held, skips what was due meanwhile and tells the output how long it ran dry', async () => {
    const { frames } = spoken(1);
    const output = recordingOutput();
    const playout = new LivePlayout({ anchorMs: Date.now() + 150, serverNow: Date.now, output, decoder: opusFrameDecoder() });
    playout.accept(0, frames);
    playout.start();
    await sleep(400);
    const blockedUntil = Date.now() + 300; // this process is held up (a busy box) for 300 ms
    while (Date.now() < blockedUntil);
    playout.end(49);
    const outcome = await playout.done;
    // The output held 100 ms (LIVE_LEAD_MS): about 200 ms of frames were due while nothing ran.
    expect(outcome.skipped).toBeGreaterThanOrEqual(8);
    expect(output.dryMs).toBe(outcome.skipped * 20);
    expect(outcome.decoded + outcome.skipped).toBe(50);
  });

  it('puts silence in when server time steps back, so the frames still sound at their instants', async () => {
    const { frames } = spoken(0.6);
    const output = recordingOutput();
    let shift = 0;
    const playout = new LivePlayout({ anchorMs: Date.now() + 150, serverNow: () => Date.now() + shift, output, decoder: opusFrameDecoder() });
    playout.accept(0, frames);
    playout.start();
    await sleep(250);
    shift = -100; // five frames' worth
    playout.end(29);
    const outcome = await playout.done;
    expect(outcome).toMatchObject({ decoded: 30, silent: 5, skipped: 0, late: 0 });
    expect(output.chunks).toHaveLength(35);
  });

  it('follows a move of server time smaller than a frame: samples cut, or silence put in', async () => {
    const { frames } = spoken(0.6);
    for (const [shift, bytes] of [[8, 30 * 1920 - 768], [-7, 30 * 1920 + 672]] as const) {
      const output = recordingOutput();
      let now = 0;
      const playout = new LivePlayout({ anchorMs: Date.now() + 150, serverNow: () => Date.now() + now, output, decoder: opusFrameDecoder() });
      playout.accept(0, frames);
      playout.start();
      await sleep(250);
      now = shift; // a clock-sync estimate a few ms better than the one it started with
      playout.end(29);
      const outcome = await playout.done;
      expect(outcome).toMatchObject({ decoded: 30, silent: 0, skipped: 0 });
      // Within a millisecond: this test's server time is Date.now(), whole milliseconds, against the host's monotonic clock.
      expect(Math.abs(output.chunks.reduce((n, c) => n + c.bytes.length, 0) - bytes)).toBeLessThanOrEqual(96);
    }
  });

  it('writes what was said through the real output: the WAV holds the recording', async () => {
    const ffmpeg = locateFfmpeg();
    const dir = mkdtempSync(join(tmpdir(), 'loalang-live-'));
    dirs.push(dir);
    const { frames, pcm } = spoken(1);
    const wav = join(dir, 'live.wav');
    const output = spawnPcmOutput(ffmpeg, ['-ar', '48000', '-ac', '1', '-y', wav], false);
    const playout = new LivePlayout({ anchorMs: Date.now() + 200, serverNow: Date.now, output, decoder: opusFrameDecoder() });
    playout.accept(0, frames);
    playout.start();
    playout.end(frames.length - 1);
    const outcome = await playout.done;
    expect(outcome).toMatchObject({ decoded: 50, stopped: false });
    expect(outcome.error).toBeUndefined();
    const file = readFileSync(wav);
    const data = file.indexOf('data', 12, 'ascii') + 8; // past ffmpeg's header and its LIST chunk
    const got = new Int16Array(file.buffer.slice(file.byteOffset + data, file.byteOffset + file.length));
    expect(got.length).toBe(pcm.length);
    // Opus delays the signal by a few ms: the best match within 10 ms must be close.
    let best = 0;
    for (let lag = 0; lag < 480; lag++) {
      let s = 0;
      let a = 0;
      let b = 0;
      for (let i = 4_800; i < 40_000; i++) {
        s += pcm[i]! * got[i + lag]!;
        a += pcm[i]! ** 2;
        b += got[i + lag]! ** 2;
      }
      best = Math.max(best, s / Math.sqrt(a * b));
    }
    expect(best).toBeGreaterThan(0.95);
  });
});
