/** The audio pipeline on real ffmpeg with audio generated here. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { MediaPipeline, TARGET_LUFS, sha256File } from '../src/media/index.js';

let work: string;
let media: MediaPipeline;
const gen = (name: string, args: string[]) => {
  const out = join(work, name);
  execFileSync(media.tools.ffmpeg, ['-v', 'error', '-y', ...args, out]);
  return out;
};
const stored = () => readdirSync(join(work, 'content'));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loalang-media-'));
  media = await MediaPipeline.create({ contentDir: join(work, 'content'), maxDurationSec: 20 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Integrated loudness (LUFS) as loudnorm measures it. */
function measureLufs(path: string): number {
  const r = spawnSync(media.tools.ffmpeg, ['-hide_banner', '-nostats', '-i', path, '-af', 'loudnorm=print_format=json', '-f', 'null', '-'], { encoding: 'utf8' });
  const out = r.stderr;
  return Number((JSON.parse(out.slice(out.lastIndexOf('{'), out.lastIndexOf('}') + 1)) as { input_i: string }).input_i);
}

describe('ingest', () => {
  it('normalises a quiet tone to Opus at the target loudness with the right duration and hash', async () => {
    const wav = gen('quiet.wav', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-af', 'volume=-25dB', '-ar', '44100']);
    const audio = await media.ingest(wav, { originalName: 'chuong.wav' });
    expect(audio.mimeType).toBe('audio/ogg');
    expect(Math.abs(audio.durationMs - 3000)).toBeLessThanOrEqual(60);
    expect(audio.sha256).toBe(createHash('sha256').update(readFileSync(audio.path)).digest('hex'));
    expect(await sha256File(audio.path)).toBe(audio.sha256);
    expect(audio.sizeBytes).toBe(statSync(audio.path).size);
    expect(audio.source).toMatchObject({ codec: 'pcm_s16le', sampleRate: 44100, channels: 1, originalName: 'chuong.wav' });
    expect(audio.loudness.inputI).toBeLessThan(-30);
    expect(Math.abs(measureLufs(audio.path) - TARGET_LUFS)).toBeLessThan(2);
    const probe = execFileSync(media.tools.ffprobe, ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels', '-of', 'csv=p=0', audio.path], { encoding: 'utf8' }).trim();
    expect(probe).toBe('opus,48000,1');
  });

  it('takes an MP3', async () => {
    const mp3 = gen('tone.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=2', '-c:a', 'libmp3lame', '-b:a', '64k']);
    const audio = await media.ingest(mp3);
    expect(Math.abs(audio.durationMs - 2000)).toBeLessThanOrEqual(80);
  });

  it('refuses what is not audio, with reasons in both languages, leaving nothing stored', async () => {
    const before = stored().length;
    const text = join(work, 'text.mp3');
    writeFileSync(text, 'Đây là văn bản, không phải âm thanh.\n'.repeat(50));
    await expect(media.ingest(text)).rejects.toMatchObject({ code: 'LOA_ERR_NOT_AUDIO', details: { httpStatus: 415 }, messageVi: expect.stringContaining('âm thanh') });
    const video = gen('video.mp4', ['-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x64:rate=10', '-pix_fmt', 'yuv420p']);
    await expect(media.ingest(video)).rejects.toMatchObject({ code: 'LOA_ERR_NO_AUDIO_STREAM', details: { httpStatus: 415 } });
    const png = gen('image.png', ['-f', 'lavfi', '-i', 'testsrc=size=32x32', '-frames:v', '1']);
    await expect(media.ingest(png)).rejects.toMatchObject({ code: 'LOA_ERR_NO_AUDIO_STREAM' });
    const empty = join(work, 'empty.wav');
    writeFileSync(empty, '');
    await expect(media.ingest(empty)).rejects.toMatchObject({ code: 'LOA_ERR_AUDIO_EMPTY', details: { httpStatus: 400 } });
    expect(stored().length).toBe(before);
  });

  it('refuses cut-off files', async () => {
    const wav = gen('cut.wav', ['-f', 'lavfi', '-i', 'sine=duration=4']);
    truncateSync(wav, Math.floor(statSync(wav).size / 2));
    await expect(media.ingest(wav)).rejects.toMatchObject({ code: 'LOA_ERR_AUDIO_TRUNCATED', details: { httpStatus: 400 } });
    const ogg = gen('cut.ogg', ['-f', 'lavfi', '-i', 'sine=duration=4', '-c:a', 'libopus']);
    truncateSync(ogg, Math.floor(statSync(ogg).size / 2) + 7);
    await expect(media.ingest(ogg)).rejects.toMatchObject({ code: 'LOA_ERR_AUDIO_TRUNCATED' });
  });

  it('refuses audio over the length limit with 413', async () => {
    const long = gen('long.wav', ['-f', 'lavfi', '-i', 'sine=duration=25', '-ar', '8000']);
    await expect(media.ingest(long)).rejects.toMatchObject({ code: 'LOA_ERR_AUDIO_TOO_LONG', details: { httpStatus: 413 } });
  });

  it('confines content paths to the content folder', () => {
    expect(() => media.contentPath('../../etc/passwd')).toThrow(RangeError);
  });
});

const hasEspeak = spawnSync('sh', ['-c', 'command -v espeak-ng'], { stdio: 'ignore' }).status === 0;
if (!hasEspeak) process.stdout.write('SKIP: text to speech: espeak-ng is not installed (apt-get install espeak-ng)\n');

describe.skipIf(!hasEspeak)('text to speech', () => {
  it('speaks Vietnamese through espeak-ng', async () => {
    const wav = await media.synthesize('Xin chào bà con, đây là bản tin của xã.');
    const audio = await media.ingest(wav);
    rmSync(dirname(wav), { recursive: true, force: true });
    expect(audio.durationMs).toBeGreaterThan(1000);
    await expect(media.synthesize('   ')).rejects.toMatchObject({ code: 'LOA_ERR_TTS_TEXT' });
  });
});
