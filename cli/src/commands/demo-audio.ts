/** Demo content: a Vietnamese bulletin spoken by espeak-ng where installed, else a tone sequence made by ffmpeg. */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerCore } from '@loalang/broker';

const run = promisify(execFile);

export const DEMO_TEXT =
  'Kính thưa bà con. Đây là bản tin thử nghiệm của hệ thống loa truyền thanh thông minh Loa Làng. ' +
  'Chiều nay có mưa rào và dông, bà con chú ý đề phòng. Xin cảm ơn bà con đã lắng nghe.';

export async function makeDemoAudio(core: ServerCore, tmpDir: string): Promise<{ path: string; title: string; kind: string }> {
  await mkdir(tmpDir, { recursive: true });
  if (core.media.tools.espeak) {
    const path = await core.media.synthesize(DEMO_TEXT, { voice: 'vi' });
    return { path, title: 'Bản tin thử nghiệm (giọng đọc tự động)', kind: 'spoken Vietnamese (espeak-ng)' };
  }
  // No espeak-ng: three chimes and a longer tone, so the plays are still audible and measurable.
  // Silence is padded in samples (`pad_len`): the npm-shipped ffmpeg 4.1 has no `pad_dur` (issue 14).
  const path = join(tmpDir, 'demo-tones.wav');
  const chime = (hz: number, seconds: number, gapSeconds: number) => `sine=frequency=${hz}:duration=${seconds}:sample_rate=48000,apad=pad_len=${gapSeconds * 48_000}`;
  await run(core.media.tools.ffmpeg, [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', chime(660, 0.4, 0.2),
    '-f', 'lavfi', '-i', chime(880, 0.4, 0.2),
    '-f', 'lavfi', '-i', chime(990, 0.6, 0.4),
    '-f', 'lavfi', '-i', 'sine=frequency=440:duration=6:sample_rate=48000',
    '-filter_complex', '[0][1][2][3]concat=n=4:v=0:a=1', '-ar', '48000', '-ac', '1', path,
  ]);
  return { path, title: 'Tín hiệu thử nghiệm (không có espeak-ng)', kind: 'test tones (espeak-ng not installed)' };
}
