// Times the server's audio pipeline (probe + full decode check + loudnorm two passes + Opus)
// on generated speech-like audio of several lengths. Uses the built broker package.
// LOALANG_BENCH_SMOKE=1: 5 s of audio only (checks the bench still runs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaPipeline } from '../broker/dist/media/index.js';

const work = mkdtempSync(join(tmpdir(), 'loalang-bench-media-'));
const media = await MediaPipeline.create({ contentDir: join(work, 'content') });
const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
console.log(`ffmpeg: ${media.tools.ffmpeg}`);
for (const seconds of SMOKE ? [5] : [60, 600, 1800]) {
  const src = join(work, `in-${seconds}.mp3`);
  // Pink noise modulated like speech, as a 128 kb/s MP3 the way operators upload.
  execFileSync(media.tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', `anoisesrc=color=pink:duration=${seconds}:amplitude=0.3`, '-af', 'volume=0.5*(1+sin(2*PI*t*3)):eval=frame', '-ar', '44100', '-ac', '2', '-b:a', '128k', src]);
  const t0 = performance.now();
  const audio = await media.ingest(src);
  const ms = performance.now() - t0;
  console.log(
    `${String(seconds).padStart(5)} s of audio: ingest ${(ms / 1000).toFixed(2)} s (${(seconds / (ms / 1000)).toFixed(0)}× real time); ` +
      `MP3 ${(statSync(src).size / 1e6).toFixed(1)} MB → Opus ${(audio.sizeBytes / 1e6).toFixed(2)} MB; input ${audio.loudness.inputI} LUFS → ${audio.loudness.targetI}`,
  );
}
rmSync(work, { recursive: true, force: true });
