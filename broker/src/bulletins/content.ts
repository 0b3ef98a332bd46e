/**
 * A bulletin's audio: its text spoken by the TTS engine, or its `audioUrl` fetched (only from
 * LOALANG_BULLETIN_AUDIO_HOSTS) and put through the library's pipeline, which refuses what is not
 * whole audio. Refusals become operator-facing errors in both languages.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContentLibrary } from '../content/library.js';
import { AudioFetchError, fetchAudio } from '../content/fetch-audio.js';
import type { Caller } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import type { BulletinInput } from './input.js';

export interface BulletinContentDeps {
  library: Pick<ContentLibrary, 'speak' | 'importAudio'>;
  /** Lower-case hosts `audioUrl` may name. */
  audioHosts: () => readonly string[];
  fetch?: typeof fetch;
}

/**
 * The content item the bulletin plays, filed in the caller's area. `asAlert`: kept with an alert,
 * out of the library list (as alert speech and CAP audio are).
 */
export async function bulletinContent(d: BulletinContentDeps, caller: Caller, input: BulletinInput, asAlert: boolean): Promise<string> {
  const meta = { title: input.title, areaId: caller.user.areaId, createdBy: caller.user.id };
  if (input.text !== undefined) return (await d.library.speak(input.text, { ...meta, voice: 'vi', kind: asAlert ? 'alert' : 'tts' })).id;
  const url = input.audioUrl!;
  let bytes: Buffer;
  try {
    bytes = await fetchAudio(url, { allowedHosts: d.audioHosts(), setting: 'LOALANG_BULLETIN_AUDIO_HOSTS', ...(d.fetch ? { fetch: d.fetch } : {}) });
  } catch (err) {
    if (!(err instanceof AudioFetchError)) throw err;
    if (err.kind === 'refused') throw brokerError('LOA_ERR_INVALID', { en: `audioUrl refused: ${err.message}`, vi: `audioUrl bị từ chối: ${err.message}` });
    throw brokerError('LOA_ERR_UPSTREAM_UNREACHABLE', { en: `audioUrl could not be fetched: ${err.message}`, vi: `không tải được audioUrl: ${err.message}` });
  }
  const dir = await mkdtemp(join(tmpdir(), 'loalang-bulletin-'));
  try {
    const file = join(dir, 'audio');
    await writeFile(file, bytes);
    const originalName = (new URL(url).pathname.split('/').pop() || 'audio').slice(0, 200);
    return (await d.library.importAudio(file, { ...meta, originalName, kind: asAlert ? 'alert' : 'upload' })).id;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
