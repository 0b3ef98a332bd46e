/**
 * A commercial Vietnamese TTS service over HTTP, configured by URL and key
 * (`LOALANG_TTS_URL`, `LOALANG_TTS_KEY`). The contract is deliberately plain, so a province
 * can put a small adapter in front of its vendor's API:
 *
 *   POST <url>
 *   Authorization: Bearer <key>          (when a key is set)
 *   Content-Type: application/json
 *   Accept: audio/*
 *   {"text": "…", "voice": "vi"}
 *
 *   200, body = the audio (WAV, MP3, Ogg… anything ffmpeg reads)
 *
 * The answer is streamed to a temp file with a size cap and a time limit; it then goes through
 * the same probe and loudness normalisation as an upload. The key never appears in errors.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isLoaError } from '@loalang/protocol';
import { mediaError } from './errors.js';
import { freshDir, type SpeechEngine } from './speech.js';

export interface HttpSpeechOptions {
  url: string;
  apiKey?: string;
  timeoutMs?: number;
  maxBytes?: number;
}

const unavailable = (en: string, vi: string) => mediaError('LOA_ERR_TTS_SERVICE', { en, vi });

export class HttpSpeechEngine implements SpeechEngine {
  readonly name = 'http';
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly o: HttpSpeechOptions) {
    const url = new URL(o.url); // throws on a bad URL at start, not at the first bulletin
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`TTS URL must be http(s): ${o.url}`);
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.maxBytes = o.maxBytes ?? 50 * 1024 * 1024;
  }

  async synthesize(text: string, voice: string): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'audio/*' };
    if (this.o.apiKey) headers['authorization'] = `Bearer ${this.o.apiKey}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.o.url, { method: 'POST', headers, body: JSON.stringify({ text, voice }), signal });
    } catch (err) {
      throw this.networkError(err);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(`answered HTTP ${res.status}`, `trả lời HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > this.maxBytes) {
      await res.body.cancel().catch(() => undefined);
      throw this.tooLarge();
    }
    const dir = await freshDir();
    const file = join(dir, 'speech.audio');
    let received = 0;
    const cap = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        received += chunk.length;
        if (received > this.maxBytes) return done(this.tooLarge());
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), cap, createWriteStream(file));
      if (received === 0) throw unavailable('answered with an empty body', 'trả về nội dung rỗng');
      return file;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw isLoaError(err) ? err : this.networkError(err);
    }
  }

  private tooLarge() {
    const mb = Math.round(this.maxBytes / 1024 / 1024);
    return unavailable(`answer larger than ${mb} MiB`, `dữ liệu trả về lớn hơn ${mb} MiB`);
  }

  private networkError(err: unknown) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return unavailable(`no answer within ${this.timeoutMs / 1000} s`, `không trả lời trong ${this.timeoutMs / 1000} giây`);
    }
    const code = e.cause?.code ?? e.cause?.message ?? e.message;
    return unavailable(`cannot be reached (${code})`, `không kết nối được (${code})`);
  }
}
