/**
 * Stream relay (tiếp sóng): plays a live HTTP/Icecast/HLS stream for a fixed window. One
 * output ffmpeg (sound card or WAV file) runs for the whole window and reads raw PCM on its
 * stdin; an input ffmpeg decodes the stream into it. When the stream drops or cannot be
 * reached, a new input is started after a short wait, until the window ends. What was relayed
 * is counted from the PCM that reached the output, so the report says how long listeners
 * actually heard the station.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BYTES_PER_MS, PCM_FORMAT, type PcmOutput } from './pcm-output.js';

export interface RelayTiming {
  /** First wait before reconnecting; doubles while attempts fail, back to this after audio flowed. */
  retryMinMs: number;
  retryMaxMs: number;
  /** A connection that delivers nothing for this long counts as dropped. */
  readTimeoutMs: number;
}

export const DEFAULT_RELAY_TIMING: RelayTiming = { retryMinMs: 1000, retryMaxMs: 5000, readTimeoutMs: 5000 };

export interface RelayOutcome {
  playedMs: number;
  stopped: boolean;
  /** Times the input ended (dropped or failed to connect) before the window closed. */
  drops: number;
  lastError?: string;
}

export interface RelayRun {
  done: Promise<RelayOutcome>;
  stop(): void;
}

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

/** Relays `url` into `output` from now until `untilMs` (epoch ms), reconnecting when it drops. */
export function relayStream(ffmpeg: string, url: string, untilMs: number, output: PcmOutput, timing: RelayTiming = DEFAULT_RELAY_TIMING): RelayRun {
  let stopRequested = false;
  let input: ChildProcess | null = null;
  let wake: (() => void) | null = null;
  const deadline = untilMs;

  const runInput = (seconds: number) =>
    new Promise<{ bytes: number; error?: string }>((resolve) => {
      let bytes = 0;
      let stderr = '';
      const proc = spawn(ffmpeg, relayInputArgs(url, seconds, timing.readTimeoutMs), { stdio: ['ignore', 'pipe', 'pipe'] });
      input = proc;
      // -t counts from the first decoded sample, which comes after connecting and probing:
      // the window's end is kept by the clock, with SIGKILL as the backstop.
      const endOfWindow = setTimeout(() => proc.kill('SIGTERM'), seconds * 1000);
      const backstop = setTimeout(() => proc.kill('SIGKILL'), seconds * 1000 + 2000);
      proc.stdout!.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        output.write(chunk);
      });
      proc.stderr!.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString('utf8')).slice(-2000);
      });
      const finish = (error?: string) => {
        clearTimeout(endOfWindow);
        clearTimeout(backstop);
        input = null;
        const last = error ?? stderr.trim().split('\n').at(-1);
        resolve(last ? { bytes, error: last.slice(0, 300) } : { bytes });
      };
      proc.once('error', (err) => finish(err.message));
      proc.once('close', () => finish());
    });

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const done = (async (): Promise<RelayOutcome> => {
    let total = 0;
    let drops = 0;
    let retry = timing.retryMinMs;
    let lastError: string | undefined;
    while (!stopRequested) {
      const left = deadline - Date.now();
      if (left < 100) break;
      const r = await runInput(left / 1000);
      total += r.bytes;
      if (r.error) lastError = r.error;
      if (stopRequested || deadline - Date.now() < 250) break;
      drops++;
      retry = r.bytes > 0 ? timing.retryMinMs : Math.min(retry * 2, timing.retryMaxMs);
      await pause(Math.min(r.bytes > 0 ? timing.retryMinMs : retry, Math.max(0, deadline - Date.now())));
    }
    await (stopRequested ? output.abort() : output.end());
    return { playedMs: Math.round(total / BYTES_PER_MS), stopped: stopRequested, drops, ...(lastError ? { lastError } : {}) };
  })();

  return {
    done,
    stop: () => {
      stopRequested = true;
      (input as ChildProcess | null)?.kill('SIGTERM');
      wake?.();
    },
  };
}
