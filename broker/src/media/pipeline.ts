/**
 * The server's audio pipeline: validate an upload, store its normalised distribution copy
 * under its id with the sha256 agents verify, and speak Vietnamese text through espeak-ng.
 * Files are written under a temporary name and renamed, so a failure leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidId, newId, silentLogger, type Logger } from '@loalang/protocol';
import { mediaError } from './errors.js';
import { normaliseToOpus, type Loudness } from './normalise.js';
import { probeAudio, type AudioInfo } from './probe.js';
import { runTool } from './run-tool.js';
import { spellNumbersVi } from './vi-text.js';
import { locateMediaTools, type MediaTools } from './tools.js';

export interface IngestedAudio {
  id: string;
  path: string;
  sha256: string;
  sizeBytes: number;
  durationMs: number;
  mimeType: 'audio/ogg';
  source: Omit<AudioInfo, 'decodedMs'> & { originalName?: string };
  loudness: Loudness;
}

export interface MediaPipelineOptions {
  contentDir: string;
  tools?: MediaTools;
  logger?: Logger;
  /** Longest accepted audio (s); a commune bulletin rarely passes 30 minutes. */
  maxDurationSec?: number;
  /** Time limit for each ffmpeg/ffprobe run. */
  timeoutMs?: number;
}

export const MAX_TTS_CHARS = 5000;

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class MediaPipeline {
  private constructor(
    readonly tools: MediaTools,
    private readonly contentDir: string,
    private readonly logger: Logger,
    private readonly maxDurationSec: number,
    private readonly timeoutMs: number,
  ) {}

  static async create(options: MediaPipelineOptions): Promise<MediaPipeline> {
    await mkdir(options.contentDir, { recursive: true });
    const tools = options.tools ?? (await locateMediaTools());
    return new MediaPipeline(tools, options.contentDir, options.logger ?? silentLogger, options.maxDurationSec ?? 3 * 3600, options.timeoutMs ?? 5 * 60_000);
  }

  contentPath(id: string): string {
    if (!isValidId(id)) throw new RangeError(`invalid content id ${JSON.stringify(id)}`);
    return join(this.contentDir, `${id}.ogg`);
  }

  async ingest(srcPath: string, opts: { originalName?: string } = {}): Promise<IngestedAudio> {
    const info = await probeAudio(this.tools, srcPath, { maxDurationSec: this.maxDurationSec, timeoutMs: this.timeoutMs });
    const id = newId();
    const final = this.contentPath(id);
    const tmp = join(this.contentDir, `.${id}.tmp.ogg`);
    try {
      const loudness = await normaliseToOpus(this.tools, srcPath, tmp, this.timeoutMs);
      const out = await probeAudio(this.tools, tmp, { maxDurationSec: this.maxDurationSec + 60, timeoutMs: this.timeoutMs });
      const sha256 = await sha256File(tmp);
      const { size } = await stat(tmp);
      await rename(tmp, final);
      const { decodedMs: _d, ...source } = info;
      this.logger.info({ id, durationMs: out.decodedMs, sizeBytes: size, inputI: loudness.inputI }, 'audio stored');
      return {
        id,
        path: final,
        sha256,
        sizeBytes: size,
        durationMs: out.decodedMs,
        mimeType: 'audio/ogg',
        source: { ...source, ...(opts.originalName ? { originalName: opts.originalName } : {}) },
        loudness,
      };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Speaks text to a WAV in a fresh temp folder; the caller ingests and then deletes it. */
  async synthesize(text: string, opts: { voice?: string } = {}): Promise<string> {
    if (!this.tools.espeak) throw mediaError('LOA_ERR_TTS_UNAVAILABLE');
    const clean = text.replace(/[\u0000-\u0008\u000b-\u001f]/g, ' ').trim();
    if (clean.length === 0 || clean.length > MAX_TTS_CHARS) {
      throw mediaError('LOA_ERR_TTS_TEXT', { en: `1 to ${MAX_TTS_CHARS} characters`, vi: `từ 1 đến ${MAX_TTS_CHARS} ký tự` });
    }
    const voice = opts.voice ?? 'vi';
    if (!/^[A-Za-z0-9_+-]{1,32}$/.test(voice)) throw mediaError('LOA_ERR_TTS_TEXT', { en: `unknown voice ${voice}`, vi: `giọng đọc không hợp lệ ${voice}` });
    const dir = await mkdtemp(join(tmpdir(), 'loalang-tts-'));
    const wav = join(dir, 'speech.wav');
    // `--` ends the options: the text is an argument, never parsed as a flag or by a shell.
    const spoken = voice.startsWith('vi') ? spellNumbersVi(clean) : clean;
    const r = await runTool(this.tools.espeak, ['-v', voice, '-s', '150', '-w', wav, '--', spoken], this.timeoutMs);
    if (r.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      throw mediaError('LOA_ERR_TTS_TEXT', { en: r.stderr.trim().slice(0, 200), vi: 'espeak-ng không đọc được văn bản' });
    }
    return wav;
  }

  async remove(id: string): Promise<void> {
    await rm(this.contentPath(id), { force: true });
  }
}
