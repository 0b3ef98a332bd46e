/**
 * Where audio goes: the sound card (ALSA), a WAV file per play (tests and demo), or nowhere.
 * ffmpeg is spawned directly with a fixed argument list (decision 0001) and reads the input
 * in real time (`-re`), so a play takes as long as it sounds.
 */
import { spawn } from 'node:child_process';
import { rename, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { agentError } from './errors.js';
import { DEFAULT_RELAY_TIMING, relayStream, type RelayRun, type RelayTiming } from './stream-relay.js';

export interface PlayOptions {
  playId: string;
  /** 0–100; see volumeToGain. */
  volume: number;
}

export interface PlayOutcome {
  playedMs: number;
  stopped: boolean;
  /** Relays only: how often the stream dropped before the window closed, and why last. */
  drops?: number;
  lastError?: string;
}

export interface PlayHandle {
  /** Resolves when the audio ended or was stopped, with how much audio went out. */
  done: Promise<PlayOutcome>;
  stop(): void;
}

export interface AudioSink {
  play(file: string, opts: PlayOptions): PlayHandle;
  /** Relays a live stream for `durationMs` from now, reconnecting when it drops. */
  relay(url: string, opts: PlayOptions & { durationMs: number }): PlayHandle;
}

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

const STOP_GRACE_MS = 2000;

export class FfmpegSink implements AudioSink {
  constructor(
    private readonly ffmpeg: string,
    private readonly spec: SinkSpec,
    private readonly relayTiming: RelayTiming = DEFAULT_RELAY_TIMING,
  ) {}

  /** Where one play's audio goes; a WAV is written as `.part` and renamed when complete. */
  private target(playId: string): { output: string[]; finalPath: string | null; partPath: string | null } {
    const finalPath = this.spec.kind === 'file' ? join(this.spec.dir, `${playId}.wav`) : null;
    const partPath = finalPath ? `${finalPath}.part` : null;
    const output =
      this.spec.kind === 'file' ? ['-c:a', 'pcm_s16le', '-f', 'wav', partPath!] : this.spec.kind === 'alsa' ? ['-f', 'alsa', this.spec.device] : ['-f', 'null', '-'];
    return { output, finalPath, partPath };
  }

  relay(url: string, opts: PlayOptions & { durationMs: number }): PlayHandle {
    const { output, finalPath, partPath } = this.target(opts.playId);
    const outputArgs = ['-af', `volume=${volumeToGain(opts.volume)}`, '-ar', '48000', '-ac', '1', '-y', ...output];
    let run: RelayRun | null = null;
    let stopRequested = false;
    const done = (async () => {
      if (this.spec.kind === 'file') await mkdir(this.spec.dir, { recursive: true });
      run = relayStream(this.ffmpeg, url, opts.durationMs, outputArgs, this.relayTiming);
      if (stopRequested) run.stop();
      const outcome = await run.done;
      if (finalPath) await rename(partPath!, finalPath).catch(() => undefined);
      return outcome;
    })();
    return {
      done,
      stop: () => {
        stopRequested = true;
        (run as RelayRun | null)?.stop();
      },
    };
  }

  play(file: string, opts: PlayOptions): PlayHandle {
    let stopRequested = false;
    let child: ReturnType<typeof spawn> | null = null;
    const { output, finalPath, partPath } = this.target(opts.playId);
    const args = ['-hide_banner', '-nostdin', '-v', 'error', '-nostats', '-progress', 'pipe:1', '-re', '-i', file, '-map', '0:a:0', '-af', `volume=${volumeToGain(opts.volume)}`, '-ar', '48000', '-ac', '1', '-y', ...output];

    const done = (async () => {
      if (this.spec.kind === 'file') await mkdir(this.spec.dir, { recursive: true });
      return new Promise<PlayOutcome>((resolve, reject) => {
        const proc = spawn(this.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child = proc;
        if (stopRequested) proc.kill('SIGTERM');
        let playedUs = 0;
        let stderr = '';
        proc.stdout.on('data', (c: Buffer) => {
          for (const m of c.toString('utf8').matchAll(/out_time_us=(\d+)/g)) playedUs = Number(m[1]);
        });
        proc.stderr.on('data', (c: Buffer) => {
          stderr = (stderr + c.toString('utf8')).slice(-4000);
        });
        proc.once('error', (err) => reject(agentError('LOA_ERR_PLAYBACK', err.message)));
        proc.once('close', (code, signal) => {
          const playedMs = Math.round(playedUs / 1000);
          // On SIGTERM ffmpeg finishes the file cleanly: the partial WAV is what was played.
          if (code === 0 || stopRequested) {
            const finish = finalPath ? rename(partPath!, finalPath).catch(() => undefined) : Promise.resolve();
            void finish.then(() => resolve({ playedMs, stopped: stopRequested }));
            return;
          }
          const cleanup = partPath ? rm(partPath, { force: true }) : Promise.resolve();
          void cleanup.then(() => reject(agentError('LOA_ERR_PLAYBACK', `ffmpeg exit ${code ?? signal}: ${stderr.trim().split('\n').at(-1) ?? ''}`)));
        });
      });
    })();
    return {
      done,
      stop: () => {
        stopRequested = true;
        const proc = child;
        if (!proc || proc.exitCode !== null) return;
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
        proc.once('close', () => clearTimeout(t));
      },
    };
  }
}
