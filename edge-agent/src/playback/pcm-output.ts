/**
 * The output stage of every play: one ffmpeg that reads raw PCM (s16le, 48 kHz, mono) on its
 * stdin and writes it to the sound card or a WAV file. It is spawned during the amplifier's
 * warm-up, before the play's instant, so process start (≈100 ms) never delays the audio: at
 * the instant the first samples are written to a process that is already running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stderrTail } from './stderr-tail.js';

/** s16le mono 48 kHz: 96 bytes per millisecond. */
export const BYTES_PER_MS = 96;
export const PCM_FORMAT = ['-f', 's16le', '-ar', '48000', '-ac', '1'] as const;

/** On real time, not the injected clock: it is how long a real ffmpeg process gets to exit. */
const STOP_GRACE_MS = 2000;

export interface PcmOutput {
  /** Writes samples; false when the output no longer takes them. */
  write(chunk: Buffer): boolean;
  /**
   * `ms` of silence before the audio, on a sound card's sample clock: the card plays it while
   * the audio's first sample waits its turn. A WAV file or the null output keeps no time, so
   * they take none (the file holds the audio only).
   */
  lead(ms: number): void;
  /**
   * The output was given nothing for `ms` after its audio ran out (this process was held up, and
   * what was due meanwhile is skipped). A sound card played nothing meanwhile and needs nothing;
   * a WAV file, which keeps no time, is given that silence, so it still holds what a listener
   * heard and when.
   */
  ranDry(ms: number): void;
  /** No more samples: ffmpeg finishes the output (drains the card, closes the WAV) and exits. */
  end(): Promise<{ code: number | null; error?: string }>;
  /** Stop now (preemption): ffmpeg still closes the WAV cleanly on SIGTERM. */
  abort(): Promise<{ code: number | null; error?: string }>;
}

/** ffmpeg's arguments for an output stage. Raw PCM needs no probing: the smallest probe lets it write at the first chunk. */
export function pcmOutputArgs(outputArgs: string[]): string[] {
  return ['-hide_banner', '-nostdin', '-v', 'error', ...PCM_FORMAT, '-probesize', '32', '-analyzeduration', '0', '-i', 'pipe:0', ...outputArgs];
}

/** `realTime`: the output plays samples at their rate (a sound card), so silence ahead of the audio delays it. */
export function spawnPcmOutput(ffmpeg: string, outputArgs: string[], realTime: boolean): PcmOutput {
  const proc: ChildProcess = spawn(ffmpeg, pcmOutputArgs(outputArgs), {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const lastError = stderrTail(proc.stderr!);
  let spawnError: string | undefined;
  proc.stdin!.on('error', () => undefined); // the process died: its exit tells why
  const closed = new Promise<{ code: number | null; error?: string }>((resolve) => {
    proc.once('error', (err) => {
      spawnError = err.message;
      resolve({ code: null, error: err.message });
    });
    proc.once('close', (code) => {
      const last = spawnError ?? lastError();
      resolve(code === 0 || !last ? { code } : { code, error: last.slice(0, 300) });
    });
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null && !spawnError;
  return {
    write: (chunk) => {
      if (!alive() || proc.stdin!.destroyed) return false;
      proc.stdin!.write(chunk);
      return true;
    },
    lead: (ms) => {
      const samples = Math.round((ms * BYTES_PER_MS) / 2);
      if (realTime && samples > 0 && alive() && !proc.stdin!.destroyed) proc.stdin!.write(Buffer.alloc(samples * 2));
    },
    ranDry: (ms) => {
      const samples = Math.round((ms * BYTES_PER_MS) / 2);
      if (!realTime && samples > 0 && alive() && !proc.stdin!.destroyed) proc.stdin!.write(Buffer.alloc(samples * 2));
    },
    end: () => {
      proc.stdin!.end();
      return closed;
    },
    abort: () => {
      if (alive()) {
        // SIGTERM alone does not wake ffmpeg blocked on an empty stdin; the end of input does.
        proc.stdin!.end();
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
        void closed.then(() => clearTimeout(t));
      }
      return closed;
    },
  };
}
