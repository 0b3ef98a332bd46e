/**
 * Stream relay (tiếp sóng): plays a live HTTP/Icecast/HLS stream for a fixed window. One
 * output ffmpeg (sound card or WAV file) runs for the whole window and reads raw PCM on its
 * stdin; an input ffmpeg decodes the stream into it. When the stream drops or cannot be
 * reached, a new input is started after a short wait, until the window ends. What was relayed
 * is counted from the PCM that reached the output, so the report says how long listeners
 * actually heard the station.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** s16le mono 48 kHz: 96 bytes per millisecond. */
const BYTES_PER_MS = 96;

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
    '-vn', '-map', '0:a:0', '-ar', '48000', '-ac', '1', '-f', 's16le', 'pipe:1',
  ];
}

export function relayStream(ffmpeg: string, url: string, durationMs: number, outputArgs: string[], timing: RelayTiming = DEFAULT_RELAY_TIMING): RelayRun {
  let stopRequested = false;
  let input: ChildProcess | null = null;
  let wake: (() => void) | null = null;
  const deadline = Date.now() + durationMs;

  const output = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-f', 's16le', '-ar', '48000', '-ac', '1', '-i', 'pipe:0', ...outputArgs], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const outputClosed = new Promise<number | null>((resolve) => {
    output.once('error', () => resolve(-1));
    output.once('close', (code) => resolve(code));
  });
  output.stdin!.on('error', () => undefined); // the output died: its exit code tells
  output.stderr!.resume();

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
        output.stdin!.write(chunk);
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
    output.stdin!.end();
    await outputClosed;
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
