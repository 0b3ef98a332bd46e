/**
 * Decides whether an uploaded file is usable audio: ffprobe for what the container says,
 * then a full decode (≈1000× real time) to find damaged or cut-off files, which ffprobe
 * alone often accepts.
 */
import { open, stat } from 'node:fs/promises';
import { mediaError } from './errors.js';
import { runTool } from './run-tool.js';
import type { MediaTools } from './tools.js';

export interface AudioInfo {
  formatName: string;
  codec: string;
  sampleRate: number;
  channels: number;
  /** What the container claims. */
  durationMs: number;
  /** What actually decodes. */
  decodedMs: number;
}

export interface ProbeLimits {
  maxDurationSec: number;
  timeoutMs: number;
}

type FfprobeJson = {
  streams?: { codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; duration?: string }[];
  format?: { format_name?: string; duration?: string };
};

/** A WAV whose header promises more sample bytes than the file holds was cut off. */
async function wavIsShort(path: string, fileSize: number): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(fileSize, 4096));
    await fh.read(head, 0, head.length, 0);
    if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return false;
    let offset = 12;
    while (offset + 8 <= head.length) {
      const id = head.toString('ascii', offset, offset + 4);
      const size = head.readUInt32LE(offset + 4);
      if (id === 'data') {
        // 0 and 0xFFFFFFFF mean "unknown" (streamed WAVs); anything else must fit.
        if (size === 0 || size === 0xffffffff) return false;
        return offset + 8 + size > fileSize;
      }
      offset += 8 + size + (size % 2);
    }
    return false;
  } finally {
    await fh.close();
  }
}

/** An Ogg stream ends with a page flagged end-of-stream (RFC 3533 §6); a cut file lacks it. */
async function oggIsCut(path: string, fileSize: number): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const len = Math.min(fileSize, 128 * 1024);
    const tail = Buffer.alloc(len);
    await fh.read(tail, 0, len, fileSize - len);
    const last = tail.lastIndexOf('OggS');
    if (last < 0 || last + 27 > len) return true;
    const segments = tail[last + 26]!;
    if (last + 27 + segments > len) return true;
    let body = 0;
    for (let i = 0; i < segments; i++) body += tail[last + 27 + i]!;
    const complete = last + 27 + segments + body === len;
    return !complete || (tail[last + 5]! & 0x04) === 0;
  } finally {
    await fh.close();
  }
}

async function decodedDurationMs(tools: MediaTools, path: string, timeoutMs: number): Promise<{ ms: number; errors: string }> {
  const r = await runTool(tools.ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-nostats', '-progress', 'pipe:1', '-i', path, '-map', '0:a:0', '-f', 'null', '-'], timeoutMs);
  const times = [...r.stdout.matchAll(/out_time_us=(\d+)/g)];
  const last = times.at(-1)?.[1];
  return { ms: last ? Math.round(Number(last) / 1000) : 0, errors: r.code === 0 ? r.stderr.trim() : r.stderr.trim() || `exit ${r.code}` };
}

export async function probeAudio(tools: MediaTools, path: string, limits: ProbeLimits): Promise<AudioInfo> {
  const { size } = await stat(path);
  if (size === 0) throw mediaError('LOA_ERR_AUDIO_EMPTY');
  const r = await runTool(tools.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path], limits.timeoutMs);
  let info: FfprobeJson = {};
  try {
    info = JSON.parse(r.stdout || '{}') as FfprobeJson;
  } catch {
    /* not understood: treated as not audio below */
  }
  const streams = info.streams ?? [];
  if (r.code !== 0 || !info.format || streams.length === 0) throw mediaError('LOA_ERR_NOT_AUDIO');
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!audio) throw mediaError('LOA_ERR_NO_AUDIO_STREAM');
  const formatName = info.format.format_name ?? 'unknown';
  const durationMs = Math.round(Number(info.format.duration ?? audio.duration ?? 0) * 1000);
  const tooLong = () =>
    mediaError('LOA_ERR_AUDIO_TOO_LONG', { en: `the limit is ${Math.round(limits.maxDurationSec / 60)} minutes`, vi: `giới hạn là ${Math.round(limits.maxDurationSec / 60)} phút` });
  if (durationMs > limits.maxDurationSec * 1000) throw tooLong();
  if (formatName.includes('wav') && (await wavIsShort(path, size))) throw mediaError('LOA_ERR_AUDIO_TRUNCATED');
  if (formatName === 'ogg' && (await oggIsCut(path, size))) throw mediaError('LOA_ERR_AUDIO_TRUNCATED');

  const decoded = await decodedDurationMs(tools, path, limits.timeoutMs);
  if (decoded.ms > limits.maxDurationSec * 1000) throw tooLong();
  if (decoded.errors) {
    throw mediaError('LOA_ERR_AUDIO_TRUNCATED', { en: decoded.errors.split('\n')[0]!.slice(0, 200), vi: 'lỗi khi giải mã' });
  }
  // A container that promises clearly more than decodes (e.g. an MP3 with a VBR header, cut short).
  if (durationMs > 0 && durationMs - decoded.ms > Math.max(500, durationMs * 0.02)) {
    throw mediaError('LOA_ERR_AUDIO_TRUNCATED', { en: `only ${decoded.ms} of ${durationMs} ms decode`, vi: `chỉ giải mã được ${decoded.ms}/${durationMs} ms` });
  }
  if (decoded.ms < 50) throw mediaError('LOA_ERR_AUDIO_EMPTY');
  return {
    formatName,
    codec: audio.codec_name ?? 'unknown',
    sampleRate: Number(audio.sample_rate ?? 0),
    channels: audio.channels ?? 0,
    durationMs: durationMs || decoded.ms,
    decodedMs: decoded.ms,
  };
}
