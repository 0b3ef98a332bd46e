/**
 * A cached file released ahead of its instant (the player's pre-roll), on real ffmpeg: a sound
 * card is handed exactly the silence before the first sample; a WAV file holds the audio only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';
import { prepareFile } from '../src/playback/paced-file.js';
import { spawnPcmOutput } from '../src/playback/pcm-output.js';

const ffmpeg = locateFfmpeg();
let work: string;
let tone: string;

/** Index of the first sample of a 48 kHz mono s16 WAV louder than `floor`. */
function firstSound(path: string, floor = 200): number {
  const wav = readFileSync(path);
  const pcm = wav.subarray(wav.indexOf('data') + 8);
  for (let i = 0; i + 1 < pcm.length; i += 2) if (Math.abs(pcm.readInt16LE(i)) > floor) return i / 2;
  return -1;
}

/** Plays the tone into a WAV through an output stage that keeps (or keeps no) time, released `inMs` ahead. */
async function play(name: string, realTime: boolean, inMs: number) {
  const out = join(work, `${name}.wav`);
  const output = spawnPcmOutput(ffmpeg, ['-c:a', 'pcm_s16le', '-f', 'wav', '-y', out], realTime);
  const prepared = prepareFile(ffmpeg, tone, output);
  await new Promise((r) => setTimeout(r, 300)); // the warm-up: both processes running
  const outcome = await prepared.start(inMs).done;
  return { out, outcome };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'loalang-paced-'));
  tone = join(work, 'tone.wav');
  // A tone that is loud from its first sample (a cosine starts at its peak).
  execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'aevalsrc=0.5*cos(2*PI*440*t):s=48000:d=1', '-ac', '1', tone]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a file released ahead of its instant', () => {
  it('hands a sound card exactly the silence until the first sample, and counts only the audio as played', async () => {
    const { out, outcome } = await play('card', true, 300);
    // 300 ms at 48 kHz: the first sample is the 14,400th, whenever the event loop ran.
    expect(firstSound(out)).toBe(14_400);
    expect(outcome.stopped).toBe(false);
    expect(outcome.playedMs).toBe(1000);
  });

  it('writes a WAV file the audio only: the file keeps no time', async () => {
    const { out, outcome } = await play('file', false, 300);
    expect(firstSound(out)).toBe(0);
    expect(outcome.playedMs).toBe(1000);
  });

  it('released at or after its instant, starts at once', async () => {
    const { out } = await play('late', true, -40);
    expect(firstSound(out)).toBe(0);
  });
});
