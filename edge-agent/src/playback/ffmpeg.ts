/** Finds ffmpeg: LOALANG_FFMPEG, else on PATH, else the npm-shipped binary (decision 0001). */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { agentError } from '../errors.js';

export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): string {
  if (env['LOALANG_FFMPEG']) return env['LOALANG_FFMPEG'];
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, 'ffmpeg'), constants.X_OK);
      return join(dir, 'ffmpeg');
    } catch {
      /* next */
    }
  }
  try {
    return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    throw agentError('LOA_ERR_NO_FFMPEG');
  }
}
