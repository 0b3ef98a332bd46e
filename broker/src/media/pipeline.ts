/**
 * The server's audio pipeline: validate an upload, store its normalised distribution copy
 * under its id with the sha256 agents verify, and speak Vietnamese text through espeak-ng.
 * Files are written under a temporary name and renamed, so a failure leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidId, newId, silentLogger, type Logger } from '@loalang/protocol';
import { mediaError } from './errors.js';
import { checkLoudnessTarget, DEFAULT_LOUDNESS, normaliseToOpus, type Loudness, type LoudnessTarget } from './normalise.js';
import { probeAudio, type AudioInfo } from './probe.js';
import { spellNumbersVi } from './vi-text.js';
import { EspeakEngine, type SpeechEngine } from './speech.js';
import { isNpmShipped, locateMediaTools, type MediaTools } from './tools.js';

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
  /** Default −16 LUFS, −1.5 dBTP. */
  loudness?: LoudnessTarget;
  /** Default espeak-ng (offline). */
  speech?: SpeechEngine;
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
    readonly loudness: LoudnessTarget,
    readonly speech: SpeechEngine,
  ) {}

  static async create(options: MediaPipelineOptions): Promise<MediaPipeline> {
    const loudness = checkLoudnessTarget(options.loudness ?? DEFAULT_LOUDNESS);
    await mkdir(options.contentDir, { recursive: true });
    const tools = options.tools ?? (await locateMediaTools());
    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    const speech = options.speech ?? new EspeakEngine(tools.espeak, timeoutMs);
    const logger = options.logger ?? silentLogger;
    if (isNpmShipped(tools.ffmpeg)) {
      // Enough for a trial (decision 0001); uploads are untrusted input, so production decodes them with a maintained build.
      logger.info({ ffmpeg: tools.ffmpeg }, 'using the npm-shipped ffmpeg (a 2018 build): install your distribution\'s ffmpeg (apt-get install ffmpeg) for production');
    }
    if (!tools.espeak && !options.speech) logger.info('espeak-ng not installed: alerts and bulletins need recorded audio or LOALANG_TTS_URL');
    return new MediaPipeline(tools, options.contentDir, logger, options.maxDurationSec ?? 3 * 3600, timeoutMs, loudness, speech);
  }

  contentPath(id: string): string {
    if (!isValidId(id)) throw new RangeError(`invalid content id ${JSON.stringify(id)}`);
    return join(this.contentDir, `${id}.ogg`);
  }

  /** `id`: the stored audio's id (a live announcement's recording keeps its session's); a new one if absent. */
  async ingest(srcPath: string, opts: { originalName?: string; id?: string } = {}): Promise<IngestedAudio> {
    const info = await probeAudio(this.tools, srcPath, { maxDurationSec: this.maxDurationSec, timeoutMs: this.timeoutMs });
    const id = opts.id ?? newId();
    const final = this.contentPath(id);
    const tmp = join(this.contentDir, `.${id}.tmp.ogg`);
    try {
      const loudness = await normaliseToOpus(this.tools, srcPath, tmp, this.timeoutMs, this.loudness);
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

  /**
   * Speaks text into an audio file in a fresh temp folder (the caller ingests it, then deletes
   * the folder). Text is checked and, for Vietnamese voices, numbers, dates and times are
   * spelled the Vietnamese way before any engine sees it.
   */
  async synthesize(text: string, opts: { voice?: string } = {}): Promise<string> {
    const clean = text.replace(/[\u0000-\u0008\u000b-\u001f]/g, ' ').trim();
    if (clean.length === 0 || clean.length > MAX_TTS_CHARS) {
      throw mediaError('LOA_ERR_TTS_TEXT', { en: `1 to ${MAX_TTS_CHARS} characters`, vi: `từ 1 đến ${MAX_TTS_CHARS} ký tự` });
    }
    const voice = opts.voice ?? 'vi';
    if (!/^[A-Za-z0-9_+-]{1,32}$/.test(voice)) throw mediaError('LOA_ERR_TTS_TEXT', { en: `unknown voice ${voice}`, vi: `giọng đọc không hợp lệ ${voice}` });
    return this.speech.synthesize(voice.startsWith('vi') ? spellNumbersVi(clean) : clean, voice);
  }

  async remove(id: string): Promise<void> {
    await rm(this.contentPath(id), { force: true });
  }
}
