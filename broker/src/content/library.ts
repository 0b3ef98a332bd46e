/**
 * The audio library's way in: files are probed, normalised and stored by the media pipeline,
 * then recorded; text is spoken by the speech engine first. Alert speech of a text already
 * spoken in the area is reused, not made again: the same warning sent twice (or heard first,
 * then sent) is one item (issue 14).
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AreaRepo } from '../areas/areas.js';
import type { MediaPipeline } from '../media/index.js';
import { speechKey, type ContentItem, type ContentKind, type ContentRepo } from './content-repo.js';

export interface ImportMeta {
  title: string;
  areaId: string;
  originalName: string | null;
  createdBy: string | null;
  /** An upload unless said otherwise. */
  kind?: ContentKind;
  speechKey?: string;
  /** The item's id (a live announcement's recording keeps its session's); a new one if absent. */
  id?: string;
}

export interface SpeechMeta {
  title: string;
  areaId: string;
  createdBy: string | null;
  voice: string;
  kind: Exclude<ContentKind, 'upload'>;
}

export class ContentLibrary {
  constructor(private readonly d: { areas: Pick<AreaRepo, 'require'>; content: ContentRepo; media: Pick<MediaPipeline, 'ingest' | 'remove' | 'synthesize'> }) {}

  /** Probes, normalises and stores an audio file, then records it. */
  async importAudio(path: string, meta: ImportMeta): Promise<ContentItem> {
    await this.d.areas.require(meta.areaId);
    const audio = await this.d.media.ingest(path, { ...(meta.originalName ? { originalName: meta.originalName } : {}), ...(meta.id ? { id: meta.id } : {}) });
    try {
      return await this.d.content.insert({
        id: audio.id,
        title: meta.title,
        kind: meta.kind ?? 'upload',
        speechKey: meta.speechKey ?? null,
        areaId: meta.areaId,
        originalName: meta.originalName,
        mimeType: audio.mimeType,
        sha256: audio.sha256,
        sizeBytes: audio.sizeBytes,
        durationMs: audio.durationMs,
        source: { ...audio.source, loudness: audio.loudness },
        createdBy: meta.createdBy,
      });
    } catch (err) {
      await this.d.media.remove(audio.id);
      throw err;
    }
  }

  /** Speaks `text` with the speech engine and stores it: a bulletin (`tts`) or alert speech (`alert`). */
  async speak(text: string, meta: SpeechMeta): Promise<ContentItem> {
    const key = speechKey(meta.voice, text);
    const existing = meta.kind === 'alert' ? await this.d.content.findSpeech('alert', meta.areaId, key) : null;
    if (existing) return existing;
    const wav = await this.d.media.synthesize(text, { voice: meta.voice });
    try {
      return await this.importAudio(wav, { title: meta.title, areaId: meta.areaId, originalName: null, createdBy: meta.createdBy, kind: meta.kind, speechKey: key });
    } finally {
      await rm(dirname(wav), { recursive: true, force: true });
    }
  }
}
