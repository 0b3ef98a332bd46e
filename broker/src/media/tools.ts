/**
 * Finds ffmpeg, ffprobe and espeak-ng: an explicit environment variable, else the system's
 * on PATH, else (ffmpeg/ffprobe only) the binaries shipped inside optional npm packages, so
 * a machine with only Node and npm still works (decision 0001).
 */
import { access, constants } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
  espeak: string | null;
}

async function onPath(name: string): Promise<string | null> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

function fromNpm(pkg: string): string | null {
  try {
    const require = createRequire(import.meta.url);
    return (require(pkg) as { path: string }).path;
  } catch {
    return null;
  }
}

async function locate(name: string, envVar: string, npmPkg: string): Promise<string> {
  const explicit = process.env[envVar];
  if (explicit) return explicit;
  const found = (await onPath(name)) ?? fromNpm(npmPkg);
  if (!found) throw new Error(`${name} not found: install the Debian package ffmpeg or set ${envVar}`);
  return found;
}

export async function locateMediaTools(): Promise<MediaTools> {
  return {
    ffmpeg: await locate('ffmpeg', 'LOALANG_FFMPEG', '@ffmpeg-installer/ffmpeg'),
    ffprobe: await locate('ffprobe', 'LOALANG_FFPROBE', '@ffprobe-installer/ffprobe'),
    espeak: process.env['LOALANG_ESPEAK'] ?? (await onPath('espeak-ng')),
  };
}

/** Whether a tool path is the binary inside an `@ffmpeg-installer`/`@ffprobe-installer` npm package. */
export function isNpmShipped(path: string): boolean {
  return /[\\/]@ff(mpeg|probe)-installer[\\/]/.test(path);
}
