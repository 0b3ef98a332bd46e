/**
 * Named live sources a schedule can relay (VOV1, the provincial station…): operators pick
 * "VOV1" instead of typing a URL. Each belongs to an area, like content; the URL is checked
 * against the server's allowed stream hosts when it is saved and again when it is scheduled.
 */
import { newId } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';

export interface StreamSource {
  id: string;
  name: string;
  url: string;
  areaId: string;
  createdBy: string | null;
  createdAt: string;
}

type Row = { id: string; name: string; url: string; area_id: string; created_by: string | null; created_at: string };

const toSource = (r: Row): StreamSource => ({ id: r.id, name: r.name, url: r.url, areaId: r.area_id, createdBy: r.created_by, createdAt: r.created_at });

export class StreamSourceRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  list(): StreamSource[] {
    return (this.db.prepare('SELECT * FROM stream_sources ORDER BY name').all() as Row[]).map(toSource);
  }

  require(id: string): StreamSource {
    const row = this.db.prepare('SELECT * FROM stream_sources WHERE id = ?').get(id) as Row | undefined;
    if (!row) throw brokerError('LOA_ERR_NOT_FOUND', { en: `stream source ${id}`, vi: `nguồn tiếp sóng ${id}` });
    return toSource(row);
  }

  create(input: { name: string; url: string; areaId: string; createdBy: string | null }): StreamSource {
    const source: StreamSource = { id: newId(), ...input, createdAt: iso(this.now()) };
    this.db.prepare('INSERT INTO stream_sources (id, name, url, area_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(source.id, source.name, source.url, source.areaId, source.createdBy, source.createdAt);
    return source;
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM stream_sources WHERE id = ?').run(id);
  }
}
