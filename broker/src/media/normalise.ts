/**
 * The distribution copy: EBU R128 loudness normalisation (ebur128 measures, then one linear gain),
 * then Opus in Ogg, 48 kHz mono, 48 kb/s — small for 4G, decoded cheaply at the edge.
 * Normalising once here means a Raspberry Pi class box only decodes and plays.
 */
import { mediaError } from './errors.js';
import { runTool } from './run-tool.js';
import type { MediaTools } from './tools.js';

export const TARGET_LUFS = -16;
export const TARGET_TRUE_PEAK = -1.5;

export interface LoudnessTarget {
  integratedLufs: number;
  truePeakDb: number;
}
export const DEFAULT_LOUDNESS: LoudnessTarget = { integratedLufs: TARGET_LUFS, truePeakDb: TARGET_TRUE_PEAK };

/** A target a broadcaster could want: −36 to −5 LUFS, true peak −9 to 0 dBTP. */
export function checkLoudnessTarget(t: LoudnessTarget): LoudnessTarget {
  if (!(t.integratedLufs >= -36 && t.integratedLufs <= -5)) throw new RangeError(`loudness target ${t.integratedLufs} LUFS: must be from -36 to -5`);
  if (!(t.truePeakDb >= -9 && t.truePeakDb <= 0)) throw new RangeError(`true peak limit ${t.truePeakDb} dBTP: must be from -9 to 0`);
  return t;
}

export interface Loudness {
  inputI: number | null;
  inputTp: number | null;
  targetI: number;
  /** Gain applied to reach the target (capped by the true-peak limit). */
  gainDb: number;
}

/** Below this the item is silence or near it: raising it would only raise hiss. */
const SILENCE_LUFS = -60;
/** The largest correction applied either way. */
const MAX_GAIN_DB = 30;

/** EBU R128 integrated loudness and true peak from ffmpeg's ebur128 summary. */
function parseEbur128(stderr: string): { i: number; tp: number } | null {
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const i = /I:\s+(-?[\d.]+|-inf) LUFS/.exec(summary)?.[1];
  const tp = /Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1];
  if (i === undefined || tp === undefined) return null;
  return { i: i === '-inf' ? -Infinity : Number(i), tp: tp === '-inf' ? -Infinity : Number(tp) };
}

export async function normaliseToOpus(tools: MediaTools, input: string, output: string, timeoutMs: number, target: LoudnessTarget = DEFAULT_LOUDNESS): Promise<Loudness> {
  // Measure with ebur128 (same EBU R128 integrated loudness and true peak as loudnorm's first
  // pass, ~7× faster here), then apply one constant gain with `volume`, which is what
  // loudnorm's linear mode does without its 192 kHz resampling. The gain is capped so the
  // true peak stays under the target.
  const pass1 = await runTool(tools.ffmpeg, ['-hide_banner', '-nostdin', '-nostats', '-v', 'info', '-i', input, '-map', '0:a:0', '-af', 'ebur128=peak=true:framelog=verbose', '-f', 'null', '-'], timeoutMs);
  const m = pass1.code === 0 ? parseEbur128(pass1.stderr) : null;
  const audible = m !== null && Number.isFinite(m.i) && m.i > SILENCE_LUFS;
  const wanted = audible ? Math.min(target.integratedLufs - m.i, target.truePeakDb - m.tp) : 0;
  const gainDb = Math.max(-MAX_GAIN_DB, Math.min(MAX_GAIN_DB, wanted));
  const filter = `volume=${gainDb.toFixed(2)}dB`;
  const pass2 = await runTool(
    tools.ffmpeg,
    ['-hide_banner', '-nostdin', '-y', '-i', input, '-map', '0:a:0', '-map_metadata', '-1', '-af', filter, '-ar', '48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '48k', '-application', 'audio', '-f', 'ogg', output],
    timeoutMs,
  );
  if (pass2.code !== 0) {
    throw mediaError('LOA_ERR_MEDIA_FAILED', { en: pass2.stderr.trim().split('\n').at(-1)?.slice(0, 200) ?? 'ffmpeg failed', vi: 'ffmpeg không mã hóa được' });
  }
  return { inputI: audible ? m.i : null, inputTp: m && Number.isFinite(m.tp) ? m.tp : null, targetI: target.integratedLufs, gainDb };
}
