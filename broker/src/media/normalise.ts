/**
 * The distribution copy: EBU R128 loudness normalisation (loudnorm, two passes, linear),
 * then Opus in Ogg, 48 kHz mono, 48 kb/s — small for 4G, decoded cheaply at the edge.
 * Normalising once here means a Raspberry Pi class box only decodes and plays.
 */
import { mediaError } from './errors.js';
import { runTool } from './run-tool.js';
import type { MediaTools } from './tools.js';

export const TARGET_LUFS = -16;
export const TARGET_TRUE_PEAK = -1.5;
const TARGET_LRA = 11;

export interface Loudness {
  inputI: number | null;
  inputTp: number | null;
  targetI: number;
}

type Measured = { input_i: string; input_tp: string; input_lra: string; input_thresh: string; target_offset: string };

function lastJson(stderr: string): Measured | null {
  const start = stderr.lastIndexOf('{');
  const end = stderr.lastIndexOf('}');
  if (start < 0 || end < start) return null;
  try {
    return JSON.parse(stderr.slice(start, end + 1)) as Measured;
  } catch {
    return null;
  }
}

export async function normaliseToOpus(tools: MediaTools, input: string, output: string, timeoutMs: number): Promise<Loudness> {
  const base = `I=${TARGET_LUFS}:TP=${TARGET_TRUE_PEAK}:LRA=${TARGET_LRA}`;
  const pass1 = await runTool(tools.ffmpeg, ['-hide_banner', '-nostdin', '-i', input, '-map', '0:a:0', '-af', `loudnorm=${base}:print_format=json`, '-f', 'null', '-'], timeoutMs);
  const m = pass1.code === 0 ? lastJson(pass1.stderr) : null;
  const finite = m && [m.input_i, m.input_tp, m.input_lra, m.input_thresh, m.target_offset].every((v) => Number.isFinite(Number(v)));
  // Silence measures as -inf: nothing to normalise, so it is only re-encoded.
  const filter = finite
    ? `loudnorm=${base}:measured_I=${m.input_i}:measured_TP=${m.input_tp}:measured_LRA=${m.input_lra}:measured_thresh=${m.input_thresh}:offset=${m.target_offset}:linear=true:print_format=summary`
    : 'anull';
  const pass2 = await runTool(
    tools.ffmpeg,
    ['-hide_banner', '-nostdin', '-y', '-i', input, '-map', '0:a:0', '-map_metadata', '-1', '-af', filter, '-ar', '48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '48k', '-application', 'audio', '-f', 'ogg', output],
    timeoutMs,
  );
  if (pass2.code !== 0) {
    throw mediaError('LOA_ERR_MEDIA_FAILED', { en: pass2.stderr.trim().split('\n').at(-1)?.slice(0, 200) ?? 'ffmpeg failed', vi: 'ffmpeg không mã hóa được' });
  }
  return { inputI: finite ? Number(m.input_i) : null, inputTp: finite ? Number(m.input_tp) : null, targetI: TARGET_LUFS };
}
