/**
 * What was said live is kept (issue 18): the node decodes each frame it placed on the session's
 * timeline (libopus in WebAssembly, the same library the speakers use) and hands the samples to
 * an ffmpeg that writes an Ogg/Opus file as they come. A frame the timeline left out, or a stall,
 * is silence in the file, as it was on the speakers. At the end the file goes through the
 * library's pipeline like any upload.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import OpusScript from 'opusscript';
import { LIVE_FRAME_MS, type Logger } from '@loalang/protocol';

export interface LiveRecording {
  /** The frame the timeline placed at `index` (indices only grow). */
  frame(index: number, packet: Buffer): void;
  /** No more frames: the finished file, or why there is none. */
  finish(): Promise<{ path: string } | { error: string }>;
}

/** Starts a session's recording. */
export type LiveRecorder = (sessionId: string) => LiveRecording;

const BYTES_PER_FRAME = (48000 / 1000) * LIVE_FRAME_MS * 2;
/** The most silence put in for one gap (the timeline moves on after a stall; no gap is longer than the stall). */
const MAX_GAP_FRAMES = 1500;

/** Records into `dir` with `ffmpeg` (the media pipeline's). */
export function ffmpegLiveRecorder(ffmpeg: string, dir: string, logger: Logger): LiveRecorder {
  return (sessionId) => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${sessionId}.live.ogg`);
    const proc = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 's16le', '-ar', '48000', '-ac', '1', '-i', 'pipe:0', '-c:a', 'libopus', '-b:a', '32k', '-application', 'voip', '-f', 'ogg', path], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    proc.stdin!.on('error', () => undefined); // ffmpeg died: its exit says why
    const closed = new Promise<{ code: number | null; error?: string }>((resolve) => {
      proc.once('error', (err) => resolve({ code: null, error: err.message }));
      proc.once('close', (code) => resolve({ code, ...(stderr ? { error: stderr.trim() } : {}) }));
    });
    const opus = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    let last = -1;
    let frames = 0;
    let broken = 0;
    const write = (pcm: Buffer) => {
      if (proc.exitCode === null && !proc.stdin!.destroyed) proc.stdin!.write(pcm);
    };
    return {
      frame(index, packet) {
        if (index <= last) return;
        if (last >= 0 && index > last + 1) write(Buffer.alloc(Math.min(index - last - 1, MAX_GAP_FRAMES) * BYTES_PER_FRAME));
        last = index;
        let pcm: Buffer;
        try {
          pcm = opus.decode(packet);
          frames++;
        } catch {
          broken++;
          pcm = Buffer.alloc(BYTES_PER_FRAME);
        }
        write(pcm.length > BYTES_PER_FRAME ? pcm.subarray(0, BYTES_PER_FRAME) : pcm);
      },
      async finish() {
        opus.delete();
        proc.stdin!.end();
        const out = await closed;
        if (broken > 0) logger.warn({ sessionId, broken }, 'live recording: frames that could not be decoded were recorded as silence');
        if (frames === 0 || out.code !== 0) {
          await rm(path, { force: true });
          return { error: frames === 0 ? 'nothing was said' : `ffmpeg exit ${out.code}: ${out.error ?? ''}`.slice(0, 300) };
        }
        return { path };
      },
    };
  };
}
