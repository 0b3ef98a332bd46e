/**
 * Named live sources a schedule can relay (VOV1, the provincial station…): operators pick
 * "VOV1" instead of typing a URL. Each belongs to an area, like content; the URL is checked
 * against the server's allowed stream hosts when it is saved and again when it is scheduled.
 */
import { newId } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { StreamSourcesTable } from '../store/schema.js';
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

const toSource = (r: StreamSourcesTable): StreamSource => ({ id: r.id, name: r.name, url: r.url, areaId: r.area_id, createdBy: r.created_by, createdAt: r.created_at });

export class StreamSourceRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  async list(): Promise<StreamSource[]> {
    // id after name: two sources may share a name; the old order among them was SQLite's rowid.
    const rows = await this.db.selectFrom('stream_sources').selectAll().orderBy('name').orderBy('created_at').orderBy('id').execute();
    return rows.map(toSource);
  }

  async require(id: string): Promise<StreamSource> {
    const row = await this.db.selectFrom('stream_sources').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw brokerError('LOA_ERR_NOT_FOUND', { en: `stream source ${id}`, vi: `nguồn tiếp sóng ${id}` });
    return toSource(row);
  }

  async create(input: { name: string; url: string; areaId: string; createdBy: string | null }): Promise<StreamSource> {
    const source: StreamSource = { id: newId(), ...input, createdAt: iso(this.now()) };
    await this.db
      .insertInto('stream_sources')
      .values({ id: source.id, name: source.name, url: source.url, area_id: source.areaId, created_by: source.createdBy, created_at: source.createdAt })
      .execute();
    return source;
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('stream_sources').where('id', '=', id).execute();
  }
}
