/** Rows of the audio library; the audio files themselves live in the media pipeline's folder. */
import { createHash } from 'node:crypto';
import type { Database } from '../store/database.js';
import { inList } from '../store/portable.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';

/**
 * An upload, speech for the library (a bulletin), speech made for an alert (not shown in the
 * library by default), or the recording of a live announcement (issue 18; it keeps the
 * session's id).
 */
export type ContentKind = 'upload' | 'tts' | 'alert' | 'live';
export const CONTENT_KINDS: readonly ContentKind[] = ['upload', 'tts', 'alert', 'live'];
/** What the library lists unless asked for more (issue 14: alert speech cluttered it). */
export const LIBRARY_KINDS: readonly ContentKind[] = ['upload', 'tts', 'live'];

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

/** Library items by id, read ahead in one query so a programme is worked out without a query per item. */
export interface ContentLookup {
  get(id: string): Pick<ContentItem, 'id' | 'sha256' | 'durationMs'> | null;
}

export class ContentRepo {
  constructor(
    private readonly db: Database,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  async get(id: string): Promise<ContentItem | null> {
    const row = await this.db.selectFrom('content').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toItem(row as Row) : null;
  }

  async require(id: string): Promise<ContentItem> {
    const item = await this.get(id);
    if (!item) throw brokerError('LOA_ERR_NOT_FOUND', { en: `content ${id}`, vi: `nội dung ${id}` });
    return item;
  }

  /** Newest first; all kinds unless `kinds` narrows them. */
  async list(kinds: readonly ContentKind[] = CONTENT_KINDS): Promise<ContentItem[]> {
    const rows = await this.db.selectFrom('content').selectAll().where('kind', 'in', [...kinds]).orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map((r) => toItem(r as Row));
  }

  /** The items these playlists name (relays have none), for `itemSource` and `itemDurationMs`. */
  async lookup(playlists: { items: readonly ({ contentId: string } | object)[] }[]): Promise<ContentLookup> {
    const ids = new Set(playlists.flatMap((p) => p.items.flatMap((i) => ('contentId' in i && typeof i.contentId === 'string' ? [i.contentId] : []))));
    const rows = ids.size ? await this.db.selectFrom('content').select(['id', 'sha256', 'duration_ms']).where(inList(this.db, 'id', ids)).execute() : [];
    const byId = new Map(rows.map((r) => [r.id, { id: r.id, sha256: r.sha256, durationMs: r.duration_ms }]));
    return { get: (id) => byId.get(id) ?? null };
  }

  /** The newest item of this kind in this area made from the same speech (see `speechKey`). */
  async findSpeech(kind: ContentKind, areaId: string, speechKey: string): Promise<ContentItem | null> {
    const row = await this.db
      .selectFrom('content')
      .selectAll()
      .where('area_id', '=', areaId)
      .where('speech_key', '=', speechKey)
      .where('kind', '=', kind)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? toItem(row as Row) : null;
  }

  async insert(item: Omit<ContentItem, 'createdAt' | 'kind'> & { kind?: ContentKind; speechKey?: string | null }): Promise<ContentItem> {
    const createdAt = iso(this.now());
    const { speechKey = null, kind = 'upload', ...rest } = item;
    await this.db
      .insertInto('content')
      .values({
        id: item.id,
        title: item.title,
        kind,
        speech_key: speechKey,
        area_id: item.areaId,
        original_name: item.originalName,
        mime_type: item.mimeType,
        sha256: item.sha256,
        size_bytes: item.sizeBytes,
        duration_ms: item.durationMs,
        source_json: JSON.stringify(item.source),
        created_by: item.createdBy,
        created_at: createdAt,
      })
      .execute();
    return { ...rest, kind, createdAt };
  }

  /** Content still named by a schedule cannot be deleted: its plays would fail on the devices. */
  async delete(id: string): Promise<void> {
    await this.require(id);
    const used = await this.scheduleUsing(id);
    if (used) {
      throw brokerError(
        'LOA_ERR_IN_USE',
        { en: `schedule "${used.title}" plays this content`, vi: `lịch "${used.title}" đang dùng nội dung này` },
        { scheduleId: used.id },
      );
    }
    await this.db.deleteFrom('content').where('id', '=', id).execute();
  }

  /** A schedule whose playlist names this content (read from the stored items, in JS: portable, and schedules are few). */
  private async scheduleUsing(contentId: string): Promise<{ id: string; title: string } | undefined> {
    // The id appears in the JSON text of any schedule that plays it: let the database narrow, then read the items.
    const rows = await this.db.selectFrom('schedules').select(['id', 'title', 'items_json']).where('items_json', 'like', `%${contentId}%`).execute();
    return rows.find((r) => (JSON.parse(r.items_json) as { contentId?: string }[]).some((i) => i.contentId === contentId));
  }
}
