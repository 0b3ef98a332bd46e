/** The HTTP text-to-speech engine against a local service, and the configurable loudness target. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isLoaError } from '@loalang/protocol';
import { HttpSpeechEngine, MediaPipeline } from '../src/media/index.js';

const KEY = 'khoa-bi-mat-123';
let work: string;
let wav: Buffer;
let service: Server;
let base: string;
const received: { auth?: string; body: { text: string; voice: string } }[] = [];

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loalang-tts-http-'));
  const media = await MediaPipeline.create({ contentDir: join(work, 'probe') });
  execFileSync(media.tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-ar', '22050', '-ac', '1', join(work, 'voice.wav')]);
  wav = readFileSync(join(work, 'voice.wav'));
  // A vendor's service as the contract says: POST JSON, bearer key, audio back.
  service = createServer((req, res) => {
    void readBody(req).then((text) => {
      if (req.url === '/slow') return; // never answers
      received.push({ ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body: JSON.parse(text) as { text: string; voice: string } });
      if (req.headers.authorization !== `Bearer ${KEY}`) return void res.writeHead(401).end('bad key');
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'audio/wav' });
        const mb = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < 3; i++) res.write(mb);
        return void res.end();
      }
      if (req.url === '/empty') return void res.writeHead(200, { 'content-type': 'audio/wav' }).end();
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length }).end(wav);
    });
  });
  await new Promise<void>((r) => service.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
});
afterAll(async () => {
  service.closeAllConnections();
  await new Promise<void>((r) => service.close(() => r()));
  rmSync(work, { recursive: true, force: true });
});

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (isLoaError(err)) return { code: err.code, message: err.message, messageVi: err.messageVi };
    throw err;
  }
  throw new Error('did not fail');
};

describe('HTTP text-to-speech engine', () => {
  it('speaks through the service: Vietnamese numbers reach it spelled out, and the answer is ingested', async () => {
    const media = await MediaPipeline.create({ contentDir: join(work, 'c1'), speech: new HttpSpeechEngine({ url: `${base}/tts`, apiKey: KEY }) });
    const file = await media.synthesize('Họp lúc 15:30 tại nhà văn hóa', { voice: 'vi' });
    expect(received.at(-1)).toEqual({ auth: `Bearer ${KEY}`, body: { text: 'Họp lúc mười lăm giờ ba mươi tại nhà văn hóa', voice: 'vi' } });
    const audio = await media.ingest(file);
    rmSync(dirname(file), { recursive: true, force: true });
    expect(Math.abs(audio.durationMs - 1000)).toBeLessThanOrEqual(60);
  });

  it('says what went wrong, never showing the key, and leaves no temp files', async () => {
    const tempDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith('loalang-tts-')).sort();
    const before = tempDirs();
    const engine = (path: string, o: { apiKey?: string; timeoutMs?: number; maxBytes?: number } = {}) => new HttpSpeechEngine({ url: `${base}${path}`, apiKey: KEY, ...o });
    const wrongKey = await errorOf(engine('/tts', { apiKey: 'sai' }).synthesize('xin chào', 'vi'));
    expect(wrongKey).toMatchObject({ code: 'LOA_ERR_TTS_SERVICE', message: expect.stringContaining('HTTP 401'), messageVi: expect.stringContaining('HTTP 401') });
    expect(JSON.stringify(wrongKey)).not.toContain('sai');
    expect(JSON.stringify(wrongKey)).not.toContain(KEY);
    expect((await errorOf(engine('/huge', { maxBytes: 1024 * 1024 }).synthesize('xin chào', 'vi'))).message).toContain('1 MiB');
    expect((await errorOf(engine('/empty').synthesize('xin chào', 'vi'))).message).toContain('empty');
    expect((await errorOf(engine('/slow', { timeoutMs: 500 }).synthesize('xin chào', 'vi'))).messageVi).toContain('không trả lời');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await errorOf(new HttpSpeechEngine({ url: `http://127.0.0.1:${port}/tts` }).synthesize('xin chào', 'vi'));
    expect(refused.message).toContain('ECONNREFUSED');
    expect(tempDirs()).toEqual(before);
    expect(() => new HttpSpeechEngine({ url: 'ftp://tts.example' })).toThrow(/http/);
  });
});

describe('loudness target', () => {
  it('normalises to a configured target (−23 LUFS, EBU R128 broadcast) and refuses an absurd one', async () => {
    const media = await MediaPipeline.create({ contentDir: join(work, 'c2'), loudness: { integratedLufs: -23, truePeakDb: -2 } });
    const audio = await media.ingest(join(work, 'voice.wav'));
    expect(audio.loudness.targetI).toBe(-23);
    const r = spawnSync(media.tools.ffmpeg, ['-hide_banner', '-nostats', '-i', audio.path, '-af', 'ebur128', '-f', 'null', '-'], { encoding: 'utf8' });
    const lufs = Number(/I:\s+(-?[\d.]+) LUFS/.exec(r.stderr.slice(r.stderr.lastIndexOf('Summary:')))![1]);
    expect(Math.abs(lufs - -23)).toBeLessThan(1);
    await expect(MediaPipeline.create({ contentDir: join(work, 'c3'), loudness: { integratedLufs: 0, truePeakDb: -1 } })).rejects.toThrow(/-36 to -5/);
    expect(existsSync(join(work, 'c3'))).toBe(false);
  });
});
