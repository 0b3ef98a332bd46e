/**
 * Stream relay (tiếp sóng): plays a live HTTP/Icecast/HLS stream for a fixed window. One
 * output stage (sound card or WAV file) runs for the whole window and reads raw PCM on its
 * stdin; an input ffmpeg decodes the stream into it. When the stream drops or cannot be
 * reached, a new input is started after a short wait, until the window ends. What was relayed
 * is counted from the PCM that reached the output, so the report says how long listeners
 * actually heard the station.
 */
import { spawn } from 'node:child_process';
import { BYTES_PER_MS, PCM_FORMAT, type PcmOutput } from './pcm-output.js';
import type { PlayOutcome, PreparedPlay } from './sink-contract.js';
import { stderrTail } from './stderr-tail.js';

export interface RelayTiming {
  /** First wait before reconnecting; doubles while attempts fail, back to this after audio flowed. */
  retryMinMs: number;
  retryMaxMs: number;
  /** A connection that delivers nothing for this long counts as dropped. */
  readTimeoutMs: number;
}

export const DEFAULT_RELAY_TIMING: RelayTiming = { retryMinMs: 500, retryMaxMs: 5000, readTimeoutMs: 5000 };

/** Arguments of one input: decode `url` in real time to raw PCM on stdout, for at most `seconds`. */
export function relayInputArgs(url: string, seconds: number, readTimeoutMs: number): string[] {
  return [
    '-hide_banner', '-nostdin', '-v', 'error',
    '-rw_timeout', String(readTimeoutMs * 1000),
    // Small probe: a 64 kb/s station would otherwise hold the first audio back for a second.
    '-probesize', '4096', '-analyzeduration', '0', '-re', '-i', url,
    '-t', seconds.toFixed(3),
    '-vn', '-map', '0:a:0', ...PCM_FORMAT, 'pipe:1',
  ];
}

interface Input {
  /** Audio flows to the output from now on (until then it waits in the pipe). */
  release(): void;
  kill(): void;
  result: Promise<{ bytes: number; error?: string }>;
}

/**
 * Prepares a relay of `url` into `output` until `untilMs` (epoch ms): the first connection is
 * opened now, during the warm-up, so audio is ready at the instant. `start()` releases it and
 * reconnects whenever the stream drops, until the window ends.
 */
/**
 * `untilMs` is in server time, as `now()` reads it (the agent's server-time clock): a box whose
 * own clock is off still ends the window on the programme's time.
 */
export function prepareRelay(ffmpeg: string, url: string, untilMs: number, output: PcmOutput, timing: RelayTiming = DEFAULT_RELAY_TIMING, now: () => number = Date.now): PreparedPlay {
  // Node timers, not the injected clock's: the window and its backstops bound real ffmpeg processes fed by a live stream; only their lengths come from `now`.
  const connect = (): Input => {
    let bytes = 0;
    const windowLeft = Math.max(100, untilMs - now());
    const proc = spawn(ffmpeg, relayInputArgs(url, windowLeft / 1000, timing.readTimeoutMs), { stdio: ['ignore', 'pipe', 'pipe'] });
    // -t counts from the first decoded sample, which comes after connecting and probing:
    // the window's end is kept by the clock, with SIGKILL as the backstop.
    const endOfWindow = setTimeout(() => proc.kill('SIGTERM'), windowLeft);
    const backstop = setTimeout(() => proc.kill('SIGKILL'), windowLeft + 2000);
    proc.stdout!.pause();
    proc.stdout!.on('data', (chunk: Buffer) => {
      // Audio that waited during the warm-up makes the relay run a little behind live; the
      // window still ends on time, so what would spill past it is not played.
      const room = Math.max(0, capBytes - forwarded);
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room - (room % 2));
      if (part.length === 0) return;
      bytes += part.length;
      forwarded += part.length;
      output.write(part);
    });
    const lastError = stderrTail(proc.stderr!);
    const result = new Promise<{ bytes: number; error?: string }>((resolve) => {
      const finish = (error?: string) => {
        clearTimeout(endOfWindow);
        clearTimeout(backstop);
        const last = error ?? lastError();
        resolve(last ? { bytes, error: last.slice(0, 300) } : { bytes });
      };
      proc.once('error', (err) => finish(err.message));
      proc.once('close', () => finish());
    });
    return { release: () => proc.stdout!.resume(), kill: () => proc.kill('SIGTERM'), result };
  };

  let forwarded = 0;
  let capBytes = Infinity;
  let input: Input = connect();
  return {
    cancel: () => {
      input.kill();
      void output.abort();
    },
    start: () => {
      capBytes = Math.max(0, untilMs - now()) * BYTES_PER_MS;
      let stopRequested = false;
      let wake: (() => void) | null = null;
      const pause = (ms: number) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      // `drops`: times the input ended (dropped or failed to connect) before the window closed.
      const done = (async (): Promise<PlayOutcome> => {
        let total = 0;
        let drops = 0;
        let retry = timing.retryMinMs;
        let lastError: string | undefined;
        for (;;) {
          input.release();
          const r = await input.result;
          total += r.bytes;
          if (r.error) lastError = r.error;
          if (stopRequested || untilMs - now() < 250) break;
          drops++;
          retry = r.bytes > 0 ? timing.retryMinMs : Math.min(retry * 2, timing.retryMaxMs);
          await pause(Math.min(retry, Math.max(0, untilMs - now())));
          if (stopRequested || untilMs - now() < 100) break;
          input = connect();
        }
        await (stopRequested ? output.abort() : output.end());
        return { playedMs: Math.round(total / BYTES_PER_MS), stopped: stopRequested, drops, ...(lastError ? { lastError } : {}) };
      })();
      return {
        done,
        stop: () => {
          stopRequested = true;
          input.kill();
          wake?.();
        },
      };
    },
  };
}
