/** Rows of the audio library; the audio files themselves live in the media pipeline's folder. */
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';

export interface ContentItem {
  id: string;
  title: string;
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
};

const toItem = (r: Row): ContentItem => ({
  id: r.id,
  title: r.title,
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
  constructor(private readonly db: Db) {}

  get(id: string): ContentItem | null {
    const row = this.db.prepare('SELECT * FROM content WHERE id = ?').get(id) as Row | undefined;
    return row ? toItem(row) : null;
  }

  require(id: string): ContentItem {
    const item = this.get(id);
    if (!item) throw brokerError('LOA_ERR_NOT_FOUND', { en: `content ${id}`, vi: `nội dung ${id}` });
    return item;
  }

  list(): ContentItem[] {
    return (this.db.prepare('SELECT * FROM content ORDER BY created_at DESC').all() as Row[]).map(toItem);
  }

  insert(item: Omit<ContentItem, 'createdAt'>): ContentItem {
    const createdAt = iso(Date.now());
    this.db
      .prepare(
        `INSERT INTO content (id, title, area_id, original_name, mime_type, sha256, size_bytes, duration_ms, source_json, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(item.id, item.title, item.areaId, item.originalName, item.mimeType, item.sha256, item.sizeBytes, item.durationMs, JSON.stringify(item.source), item.createdBy, createdAt);
    return { ...item, createdAt };
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
