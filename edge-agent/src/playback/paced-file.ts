/**
 * A cached file played in real time: a decoder ffmpeg turns it into PCM ahead of the instant
 * (held back by the pipe), and this process feeds the output stage at the wall-clock rate,
 * a little ahead so a sound card never runs dry. Audio starts when `start()` is called, to
 * the millisecond, and stops as soon as asked.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { BYTES_PER_MS, PCM_FORMAT, type PcmOutput } from './pcm-output.js';
import { agentError } from '../errors.js';
import type { PlayOutcome, PreparedPlay } from './sink-contract.js';
import { stderrTail } from './stderr-tail.js';

/** How far ahead of the wall clock samples are handed to the output. */
export const LEAD_MS = 100;
/** Real time (performance.now and Node timers), not the injected clock: samples follow the sound card's clock. */
const TICK_MS = 10;

export function prepareFile(ffmpeg: string, file: string, output: PcmOutput): PreparedPlay {
  const decoder = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-map', '0:a:0', ...PCM_FORMAT, 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lastError = stderrTail(decoder.stderr);
  const decoded = new Promise<string | null>((resolve) => {
    decoder.once('error', (err) => resolve(err.message));
    decoder.once('close', (code, signal) => resolve(code === 0 ? null : `decoder exit ${code ?? signal}: ${lastError() ?? ''}`));
  });
  const stdout = decoder.stdout;
  // Paused mode, read on the pacer's clock. The listener also tells Node the output is consumed:
  // an unconsumed child stdout is drained and dropped when the child exits.
  stdout.on('readable', () => undefined);

  return {
    cancel: () => {
      decoder.kill('SIGKILL');
      void output.abort();
    },
    start: (inMs = 0) => {
      // The audio's first sample is due at t0; a sound card is handed silence until then.
      const lead = Math.max(0, inMs);
      const t0 = performance.now() + lead;
      output.lead(lead);
      const elapsed = () => performance.now() - t0;
      let sent = 0;
      let timer: NodeJS.Timeout | null = null;
      let finished = false;
      let settle!: (o: PlayOutcome) => void;
      let fail!: (e: Error) => void;
      const done = new Promise<PlayOutcome>((resolve, reject) => {
        settle = resolve;
        fail = reject;
      });

      const finish = async (why: 'ended' | 'stopped' | 'output-died') => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        timer = null;
        if (why !== 'ended') {
          decoder.kill('SIGKILL');
          const out = await output.abort();
          if (why === 'stopped') return settle({ playedMs: Math.max(0, Math.round(Math.min(sent / BYTES_PER_MS, elapsed()))), stopped: true });
          return fail(agentError('LOA_ERR_PLAYBACK', `output exit ${out.code}: ${out.error ?? ''}`));
        }
        const decodeError = await decoded;
        if (decodeError) {
          await output.abort();
          return fail(agentError('LOA_ERR_PLAYBACK', decodeError));
        }
        const out = await output.end();
        if (out.code !== 0) return fail(agentError('LOA_ERR_PLAYBACK', `output exit ${out.code}: ${out.error ?? ''}`));
        settle({ playedMs: Math.round(sent / BYTES_PER_MS), stopped: false });
      };

      const pump = () => {
        timer = null;
        const target = Math.floor((elapsed() + LEAD_MS) * BYTES_PER_MS);
        while (sent < target) {
          const available = stdout.readableLength;
          if (available === 0) {
            stdout.read(0); // ask the pipe for more (or notice its end)
            break;
          }
          const chunk = stdout.read(Math.min(target - sent, available)) as Buffer | null;
          if (!chunk) break;
          if (!output.write(chunk)) return void finish('output-died');
          sent += chunk.length;
        }
        if (stdout.readableEnded) {
          // All decoded audio was handed over: wait out the lead, so the play lasts as long as it sounds.
          timer = setTimeout(() => void finish('ended'), Math.max(0, sent / BYTES_PER_MS - elapsed()));
          return;
        }
        timer = setTimeout(pump, TICK_MS);
      };
      pump();
      return { done, stop: () => void finish('stopped') };
    },
  };
}
