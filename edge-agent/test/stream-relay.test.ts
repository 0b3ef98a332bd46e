/** Stream relays (tiếp sóng) on real ffmpeg from a local Icecast-like HTTP stream. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { FfmpegSink } from '../src/playback/audio-sink.js';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';
import { startStreamServer, type StreamServer } from '@loalang/test-kit';

const ffmpeg = locateFfmpeg();
let work: string;
let stream: StreamServer;
let sink: FfmpegSink;

/** Seconds of audio in a 48 kHz mono s16 WAV, from its size (44-byte header). */
const wavSeconds = (path: string) => (readFileSync(path).length - 44) / 96_000;
/** Root mean square of the samples, 0–1: the station's tone is ≈0.088, silence 0. */
function wavRms(path: string): number {
  const pcm = readFileSync(path).subarray(44);
  let sum = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) sum += (pcm.readInt16LE(i) / 32768) ** 2;
  return Math.sqrt(sum / (pcm.length / 2));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loalang-relay-'));
  const mp3 = join(work, 'station.mp3');
  execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=523:duration=20', '-ar', '44100', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', mp3]);
  stream = await startStreamServer(readFileSync(mp3), 64);
  sink = new FfmpegSink(ffmpeg, { kind: 'file', dir: join(work, 'sink') }, { retryMinMs: 500, retryMaxMs: 2000, readTimeoutMs: 3000 });
});
afterAll(async () => {
  await stream.close();
  rmSync(work, { recursive: true, force: true });
});

describe('stream relay', () => {
  it('relays an HLS stream (AAC segments)', async () => {
    const hls = join(work, 'hls');
    mkdirSync(hls);
    execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=600:duration=20', '-ac', '1', '-c:a', 'aac', '-b:a', '64k', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', join(hls, 'live.m3u8')]);
    const files = createServer((req, res) => {
      const name = basename(req.url ?? '');
      if (!existsSync(join(hls, name))) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' }).end(readFileSync(join(hls, name)));
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(files.address() as AddressInfo).port}/live.m3u8`;
      const outcome = await sink.prepare({ streamUrl: url, untilMs: Date.now() + 4000 }, { playId: 'relay-hls', volume: 100 }).start().done;
      expect(outcome.drops).toBe(0);
      expect(outcome.playedMs).toBeGreaterThan(3000);
      expect(wavRms(join(work, 'sink', 'relay-hls.wav'))).toBeGreaterThan(0.06);
    } finally {
      await new Promise<void>((r) => files.close(() => r()));
    }
  }, 20_000);

  it('keeps its window in server time on a box whose own clock is an hour behind', async () => {
    const behind = 3600_000;
    const serverNow = () => Date.now() + behind;
    const offSink = new FfmpegSink(ffmpeg, { kind: 'file', dir: join(work, 'sink') }, { retryMinMs: 500, retryMaxMs: 2000, readTimeoutMs: 3000 }, serverNow);
    const began = Date.now();
    const outcome = await offSink.prepare({ streamUrl: stream.url, untilMs: serverNow() + 3000 }, { playId: 'relay-offset', volume: 100 }).start().done;
    const took = Date.now() - began;
    // Read on the box's own clock the window would last an hour and three seconds.
    expect(took).toBeGreaterThan(2500);
    expect(took).toBeLessThan(4500);
    expect(outcome.playedMs).toBeGreaterThan(2000);
    expect(outcome.playedMs).toBeLessThanOrEqual(3100);
  }, 20_000);

  it('relays for its window, reconnects once when the stream drops, and counts what was relayed', async () => {
    stream.connections.length = 0;
    stream.cutNextAfterMs = 2500;
    const began = Date.now();
    const outcome = await sink.prepare({ streamUrl: stream.url, untilMs: Date.now() + 8000 }, { playId: 'relay-drop', volume: 100 }).start().done;
    const took = Date.now() - began;
    expect(took).toBeGreaterThan(7500);
    expect(took).toBeLessThan(8700);
    expect(stream.connections).toHaveLength(2);
    expect(outcome.drops).toBe(1);
    expect(outcome.stopped).toBe(false);
    // The drop and the reconnection cost a little air time, and the report says so.
    expect(outcome.playedMs).toBeGreaterThan(5500);
    expect(outcome.playedMs).toBeLessThan(7800);
    // What was counted is what reached the output.
    const wav = join(work, 'sink', 'relay-drop.wav');
    expect(Math.abs(wavSeconds(wav) * 1000 - outcome.playedMs)).toBeLessThan(100);
    expect(wavRms(wav)).toBeGreaterThan(0.06);
  }, 20_000);

  it('stops on request (preemption) and keeps what was relayed', async () => {
    const handle = sink.prepare({ streamUrl: stream.url, untilMs: Date.now() + 30_000 }, { playId: 'relay-stop', volume: 100 }).start();
    let stoppedAt = 0;
    setTimeout(() => {
      stoppedAt = Date.now();
      handle.stop();
    }, 2500);
    const outcome = await handle.done;
    expect(Date.now() - stoppedAt).toBeLessThan(500);
    expect(outcome.stopped).toBe(true);
    // ffmpeg closed the WAV properly: the header's data size matches the file.
    const wav = readFileSync(join(work, 'sink', 'relay-stop.wav'));
    const data = wav.indexOf('data', 12, 'latin1');
    expect(wav.readUInt32LE(data + 4)).toBe(wav.length - data - 8);
    expect(outcome.playedMs).toBeGreaterThan(1000);
    expect(outcome.playedMs).toBeLessThan(3000);
  }, 20_000);

  it('a stream that cannot be reached relays nothing and says why, trying until the window ends', async () => {
    const dead = 'http://127.0.0.1:9/none.mp3';
    const began = Date.now();
    const outcome = await sink.prepare({ streamUrl: dead, untilMs: Date.now() + 3000 }, { playId: 'relay-dead', volume: 100 }).start().done;
    expect(Date.now() - began).toBeGreaterThan(2700);
    expect(outcome.playedMs).toBe(0);
    expect(outcome.drops).toBeGreaterThanOrEqual(2);
    expect(outcome.lastError).toMatch(/refused|connect/i);
  }, 20_000);
});
