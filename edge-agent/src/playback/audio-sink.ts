/**
 * Where audio goes: the sound card (ALSA), a WAV file per play (tests and demo; beside it a `.start`
 * file with the epoch ms, on this host's clock, at which its audio started), or nowhere.
 * ffmpeg is spawned directly with a fixed argument list (decision 0001). Each play is prepared
 * ahead of its instant (output process running, file decoding or stream ready to connect) and
 * started at the instant; samples are fed at the wall-clock rate, so a play takes as long as
 * it sounds (decision 0009).
 */
import { mkdirSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareFile } from './paced-file.js';
import { hostInstantOf, prepareLive } from './live-source.js';
import { spawnPcmOutput } from './pcm-output.js';
import { DEFAULT_RELAY_TIMING, prepareRelay, type RelayTiming } from './stream-relay.js';
import type { AudioSink, PlayOutcome, PlayOptions, PlaySource, PreparedPlay } from './sink-contract.js';

export type { AudioSink, PlayHandle, PlayOptions, PlayOutcome, PlaySource, PreparedPlay } from './sink-contract.js';

/** Perceptual volume: amplitude = (v/100)², i.e. 80 → −3.9 dB, 50 → −12 dB, 10 → −40 dB, 0 → silence. */
export function volumeToGain(volume: number): number {
  const v = Math.max(0, Math.min(100, volume)) / 100;
  return Number((v * v).toFixed(4));
}

export type SinkSpec = { kind: 'alsa'; device: string } | { kind: 'file'; dir: string } | { kind: 'null' };

export function parseSinkSpec(spec: string): SinkSpec {
  if (spec === 'null') return { kind: 'null' };
  if (spec.startsWith('alsa:')) return { kind: 'alsa', device: spec.slice(5) };
  if (spec.startsWith('file:')) return { kind: 'file', dir: spec.slice(5) };
  throw new RangeError(`unknown audio sink ${spec}`);
}

export class FfmpegSink implements AudioSink {
  constructor(
    private readonly ffmpeg: string,
    private readonly spec: SinkSpec,
    private readonly relayTiming: RelayTiming = DEFAULT_RELAY_TIMING,
    /** The time relay windows (`untilMs`) are read in: the agent's server time. */
    private readonly now: () => number = Date.now,
  ) {}

  /** Where one play's audio goes; a WAV is written as `.part` and renamed when complete. */
  private target(playId: string): { output: string[]; finalPath: string | null; partPath: string | null } {
    const finalPath = this.spec.kind === 'file' ? join(this.spec.dir, `${playId}.wav`) : null;
    const partPath = finalPath ? `${finalPath}.part` : null;
    const output =
      this.spec.kind === 'file' ? ['-c:a', 'pcm_s16le', '-f', 'wav', partPath!] : this.spec.kind === 'alsa' ? ['-f', 'alsa', this.spec.device] : ['-f', 'null', '-'];
    return { output, finalPath, partPath };
  }

  prepare(source: PlaySource, opts: PlayOptions): PreparedPlay {
    if (this.spec.kind === 'file') mkdirSync(this.spec.dir, { recursive: true });
    const { output, finalPath, partPath } = this.target(opts.playId);
    const pcm = spawnPcmOutput(this.ffmpeg, ['-af', `volume=${volumeToGain(opts.volume)}`, '-ar', '48000', '-ac', '1', '-y', ...output], this.spec.kind === 'alsa');
    // A stopped play keeps what was written (ffmpeg closes the WAV on SIGTERM); a failed one leaves nothing.
    const settle = (done: Promise<PlayOutcome>): Promise<PlayOutcome> =>
      done.then(
        async (outcome) => {
          if (finalPath) await rename(partPath!, finalPath).catch(() => undefined);
          return outcome;
        },
        async (err: unknown) => {
          if (partPath) await rm(partPath, { force: true });
          throw err;
        },
      );
    const prepared =
      'live' in source ? prepareLive(source.live, pcm, this.now) : 'streamUrl' in source ? prepareRelay(this.ffmpeg, source.streamUrl, source.untilMs, pcm, this.relayTiming, this.now) : prepareFile(this.ffmpeg, source.file, pcm);
    return {
      start: (inMs = 0) => {
        // The file sink notes the instant (this host's wall clock, µs) its first sample is due:
        // handed over now, or `inMs` from now on the output's sample clock, or (live) at its
        // first frame's instant.
        const handed = performance.timeOrigin + performance.now() + ('file' in source ? Math.max(0, inMs) : 0);
        const handle = prepared.start(inMs);
        const at = handle.startsAtMs !== undefined ? hostInstantOf(handle.startsAtMs, this.now) : handed;
        if (finalPath) void writeFile(`${finalPath}.start`, `${at.toFixed(3)}\n`).catch(() => undefined);
        return { done: settle(handle.done), stop: () => handle.stop(), ...(handle.startsAtMs !== undefined ? { startsAtMs: handle.startsAtMs } : {}) };
      },
      cancel: () => {
        prepared.cancel();
        if (partPath) void rm(partPath, { force: true });
      },
    };
  }
}
