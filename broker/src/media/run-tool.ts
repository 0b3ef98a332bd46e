/** Runs a media tool with a fixed argument list, a time limit and bounded output. */
import { spawn } from 'node:child_process';
import { mediaError } from './errors.js';

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT = 1024 * 1024;

export function runTool(cmd: string, args: string[], timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      // Keep the end: ffmpeg prints its summary (and loudnorm's JSON) last.
      stderr = (stderr + c.toString('utf8')).slice(-MAX_OUTPUT);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(mediaError('LOA_ERR_MEDIA_FAILED', { en: `${cmd}: ${err.message}`, vi: `${cmd}: ${err.message}` }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) return reject(mediaError('LOA_ERR_MEDIA_TIMEOUT'));
      resolve({ code, stdout, stderr });
    });
  });
}
