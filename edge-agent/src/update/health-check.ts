/**
 * What a new release must show before the box keeps it (issue 20): connected to the server, its
 * programme received, the amplifier answering, and a moment of silence through the audio path
 * (ffmpeg opening the same output the plays use: the sound card, or the test sink's folder).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AmplifierController } from '@loalang/firmware-bridge';
import type { SinkSpec } from '../playback/audio-sink.js';

export interface HealthFacts {
  connected: () => boolean;
  /** A programme (desired state) arrived from the server since this start. */
  programmeReceived: () => boolean;
  amplifier: Pick<AmplifierController, 'status'>;
  ffmpeg: string;
  sink: SinkSpec;
  /** A folder the agent may write a scratch file in. */
  scratchDir: string;
}

function runFfmpeg(ffmpeg: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(ffmpeg, args, { timeout: 15_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${err.message.split('\n')[0]}${stderr ? `: ${String(stderr).trim().split('\n').at(-1)}` : ''}`));
      else resolve();
    });
  });
}

/** Half a second of silence through the output the plays use. */
async function silentTest(f: HealthFacts): Promise<void> {
  const input = ['-hide_banner', '-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono', '-t', '0.5'];
  if (f.sink.kind === 'alsa') return runFfmpeg(f.ffmpeg, [...input, '-f', 'alsa', f.sink.device]);
  const dir = f.sink.kind === 'file' ? f.sink.dir : f.scratchDir;
  const out = join(dir, '.update-health-check.wav');
  try {
    // As the file sink does when it plays: its folder is made on first use (a box that has not played yet).
    await mkdir(dir, { recursive: true });
    await runFfmpeg(f.ffmpeg, [...input, '-y', '-c:a', 'pcm_s16le', '-f', 'wav', out]);
  } finally {
    await rm(out, { force: true });
  }
}

/** Null when healthy; otherwise what is wrong, in words a technician reads in the rollout page. */
export async function updateHealth(f: HealthFacts): Promise<string | null> {
  if (!f.connected()) return 'not connected to the server';
  if (!f.programmeReceived()) return 'no programme received from the server yet';
  try {
    await f.amplifier.status();
  } catch (err) {
    return `the amplifier board does not answer: ${(err as Error).message}`;
  }
  try {
    await silentTest(f);
  } catch (err) {
    return `audio path: ${(err as Error).message}`;
  }
  return null;
}
