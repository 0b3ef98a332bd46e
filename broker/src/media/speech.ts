/**
 * Text-to-speech engines. The pipeline cleans and checks the text (and spells numbers and
 * times the Vietnamese way) before an engine sees it; an engine only turns text into an
 * audio file, which the pipeline then ingests like an upload.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mediaError } from './errors.js';
import { runTool } from './run-tool.js';

export interface SpeechEngine {
  /** Shown in content metadata, e.g. `espeak-ng` or `http`. */
  readonly name: string;
  /** Speaks `text` into an audio file in a fresh temp folder; the caller deletes the folder. */
  synthesize(text: string, voice: string): Promise<string>;
}

export async function freshDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'loalang-tts-'));
}

/** espeak-ng, offline, the default: robotic but always there (Debian package espeak-ng). */
export class EspeakEngine implements SpeechEngine {
  readonly name = 'espeak-ng';

  constructor(
    private readonly espeak: string | null,
    private readonly timeoutMs: number,
  ) {}

  async synthesize(text: string, voice: string): Promise<string> {
    if (!this.espeak) throw mediaError('LOA_ERR_TTS_UNAVAILABLE');
    const dir = await freshDir();
    const wav = join(dir, 'speech.wav');
    // `--` ends the options: the text is an argument, never parsed as a flag or by a shell.
    const r = await runTool(this.espeak, ['-v', voice, '-s', '150', '-w', wav, '--', text], this.timeoutMs);
    if (r.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      throw mediaError('LOA_ERR_TTS_TEXT', { en: r.stderr.trim().slice(0, 200), vi: 'espeak-ng không đọc được văn bản' });
    }
    return wav;
  }
}
