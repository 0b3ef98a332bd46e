/** Rows of the audio library; the audio files themselves live in the media pipeline's folder. */
import { createHash } from 'node:crypto';
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';

/** An upload, speech for the library (a bulletin), or speech made for an alert (not shown in the library by default). */
export type ContentKind = 'upload' | 'tts' | 'alert';
export const CONTENT_KINDS: readonly ContentKind[] = ['upload', 'tts', 'alert'];
/** What the library lists unless asked for more (issue 14: alert speech cluttered it). */
export const LIBRARY_KINDS: readonly ContentKind[] = ['upload', 'tts'];

export interface ContentItem {
  id: string;
  title: string;
  kind: ContentKind;
  areaId: string;
  originalName: string | null;
  mimeType: string;
  sha256: string;
  sizeBytes: number;
  durationMs: number;
  source: Record<string, unknown>;
  createdBy: string | null;
  createdAt: string;
}

type Row = {
  id: string;
  title: string;
  area_id: string;
  original_name: string | null;
  mime_type: string;
  sha256: string;
  size_bytes: number;
  duration_ms: number;
  source_json: string;
  created_by: string | null;
  created_at: string;
  kind: ContentKind;
  speech_key: string | null;
};

/** What identifies speech: the same text in the same voice sounds the same. */
export const speechKey = (voice: string, text: string) => createHash('sha256').update(`${voice}\n${text}`).digest('hex');

const toItem = (r: Row): ContentItem => ({
  id: r.id,
  title: r.title,
  kind: r.kind,
  areaId: r.area_id,
  originalName: r.original_name,
  mimeType: r.mime_type,
  sha256: r.sha256,
  sizeBytes: r.size_bytes,
  durationMs: r.duration_ms,
  source: JSON.parse(r.source_json) as Record<string, unknown>,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

export class ContentRepo {
  constructor(
    private readonly db: Db,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): ContentItem | null {
    const row = this.db.prepare('SELECT * FROM content WHERE id = ?').get(id) as Row | undefined;
    return row ? toItem(row) : null;
  }

  require(id: string): ContentItem {
    const item = this.get(id);
    if (!item) throw brokerError('LOA_ERR_NOT_FOUND', { en: `content ${id}`, vi: `nội dung ${id}` });
    return item;
  }

  /** Newest first; all kinds unless `kinds` narrows them. */
  list(kinds: readonly ContentKind[] = CONTENT_KINDS): ContentItem[] {
    return (this.db.prepare('SELECT * FROM content WHERE kind IN (SELECT value FROM json_each(?)) ORDER BY created_at DESC').all(JSON.stringify(kinds)) as Row[]).map(toItem);
  }

  /** The newest item of this kind in this area made from the same speech (see `speechKey`). */
  findSpeech(kind: ContentKind, areaId: string, speechKey: string): ContentItem | null {
    const row = this.db.prepare('SELECT * FROM content WHERE area_id = ? AND speech_key = ? AND kind = ? ORDER BY created_at DESC LIMIT 1').get(areaId, speechKey, kind) as Row | undefined;
    return row ? toItem(row) : null;
  }

  insert(item: Omit<ContentItem, 'createdAt' | 'kind'> & { kind?: ContentKind; speechKey?: string | null }): ContentItem {
    const createdAt = iso(this.now());
    const { speechKey = null, kind = 'upload', ...rest } = item;
    this.db
      .prepare(
        `INSERT INTO content (id, title, kind, speech_key, area_id, original_name, mime_type, sha256, size_bytes, duration_ms, source_json, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(item.id, item.title, kind, speechKey, item.areaId, item.originalName, item.mimeType, item.sha256, item.sizeBytes, item.durationMs, JSON.stringify(item.source), item.createdBy, createdAt);
    return { ...rest, kind, createdAt };
  }

  /** Content still named by a schedule cannot be deleted: its plays would fail on the devices. */
  delete(id: string): void {
    this.require(id);
    const used = this.db
      .prepare(`SELECT s.id, s.title FROM schedules s, json_each(s.items_json) j WHERE json_extract(j.value, '$.contentId') = ? LIMIT 1`)
      .get(id) as { id: string; title: string } | undefined;
    if (used) {
      throw brokerError(
        'LOA_ERR_IN_USE',
        { en: `schedule "${used.title}" plays this content`, vi: `lịch "${used.title}" đang dùng nội dung này` },
        { scheduleId: used.id },
      );
    }
    this.db.prepare('DELETE FROM content WHERE id = ?').run(id);
  }
}
