/** The administrative area tree (any depth: province → district → commune → village). */
import { sql, type RawBuilder } from 'kysely';
import type { Database } from '../store/database.js';
import { brokerError } from '../errors.js';
import { newId, type QuietHours } from '@loalang/protocol';
import { iso } from '../time.js';
import { inList } from '../store/portable.js';

/**
 * The recursive CTE `sub(id)`: the areas `seed` selects (a query of one `id` column) and every
 * area below them, walked through `parent_id`. The one walk of the area tree, for
 * `WITH RECURSIVE ${subtreeCte(…)} …`. `distinct`: seeds may overlap (UNION instead of UNION ALL).
 */
export function subtreeCte(seed: RawBuilder<unknown>, distinct = false): RawBuilder<unknown> {
  return sql`sub(id) AS (${seed} ${sql.raw(distinct ? 'UNION' : 'UNION ALL')} SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id)`;
}

export interface Area {
  id: string;
  name: string;
  parentId: string | null;
  timezone: string | null;
  /** Own quiet hours; areas below inherit them unless they set their own. */
  quietHours: { from: string; to: string } | null;
  /** Own approval rule for schedules; null inherits the parent's (see ScheduleApproval). */
  scheduleApproval: ScheduleApproval | null;
  /** Codes that name this area in CAP alerts' `<geocode>` (e.g. the national administrative code). */
  geocodes: string[];
  createdAt: string;
}

/**
 * Who must approve a schedule before it reaches devices:
 * - `none`: nobody; a schedule is approved when it is saved;
 * - `operators` (default): schedules made by users without the approve right wait for one who has it;
 * - `all`: every schedule waits, and its creator may not approve it (four eyes).
 */
export type ScheduleApproval = 'none' | 'operators' | 'all';
export const SCHEDULE_APPROVALS: readonly ScheduleApproval[] = ['none', 'operators', 'all'];
export const DEFAULT_SCHEDULE_APPROVAL: ScheduleApproval = 'operators';

export type AreaInput = { name: string; parentId: string | null; timezone?: string | null; quietHours?: Area['quietHours']; scheduleApproval?: ScheduleApproval | null; geocodes?: string[] | null };

type Row = {
  id: string;
  name: string;
  parent_id: string | null;
  timezone: string | null;
  quiet_hours_json: string | null;
  schedule_approval: ScheduleApproval | null;
  geocodes_json: string | null;
  created_at: string;
};

const toArea = (r: Row): Area => ({
  id: r.id,
  name: r.name,
  parentId: r.parent_id,
  timezone: r.timezone,
  quietHours: r.quiet_hours_json ? (JSON.parse(r.quiet_hours_json) as Area['quietHours']) : null,
  scheduleApproval: r.schedule_approval,
  geocodes: r.geocodes_json ? (JSON.parse(r.geocodes_json) as string[]) : [],
  createdAt: r.created_at,
});

export const DEFAULT_TIMEZONE = 'Asia/Ho_Chi_Minh';

export function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export class AreaRepo {
  constructor(
    private readonly db: Database,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  async get(id: string): Promise<Area | null> {
    const row = await this.db.selectFrom('areas').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toArea(row as Row) : null;
  }

  async require(id: string): Promise<Area> {
    const area = await this.get(id);
    if (!area) throw brokerError('LOA_ERR_NOT_FOUND', { en: `area ${id}`, vi: `địa bàn ${id}` });
    return area;
  }

  async list(): Promise<Area[]> {
    const rows = await this.db.selectFrom('areas').selectAll().orderBy('name').orderBy('id').execute();
    return rows.map((r) => toArea(r as Row));
  }

  /** Every area with the timezone its times are read in (see effectiveTimezone), in one pass over the tree. */
  async listWithTimezones(): Promise<(Area & { effectiveTimezone: string })[]> {
    const all = await this.list();
    const byId = new Map(all.map((a) => [a.id, a]));
    const tz = new Map<string, string>();
    const of = (a: Area, depth = 0): string => {
      const known = tz.get(a.id);
      if (known) return known;
      const parent = a.parentId ? byId.get(a.parentId) : undefined;
      const found = a.timezone ?? (parent && depth < 64 ? of(parent, depth + 1) : DEFAULT_TIMEZONE);
      tz.set(a.id, found);
      return found;
    };
    return all.map((a) => ({ ...a, effectiveTimezone: of(a) }));
  }

  async create(input: AreaInput & { id?: string }): Promise<Area> {
    if (input.parentId !== null) await this.require(input.parentId);
    if (input.timezone && !isValidTimezone(input.timezone)) {
      throw brokerError('LOA_ERR_INVALID', { en: `unknown timezone ${input.timezone}`, vi: `múi giờ không hợp lệ ${input.timezone}` });
    }
    const area: Area = {
      id: input.id ?? newId(),
      name: input.name,
      parentId: input.parentId,
      timezone: input.timezone ?? null,
      quietHours: input.quietHours ?? null,
      scheduleApproval: input.scheduleApproval ?? null,
      geocodes: input.geocodes ?? [],
      createdAt: iso(this.now()),
    };
    await this.db
      .insertInto('areas')
      .values({
        id: area.id,
        name: area.name,
        parent_id: area.parentId,
        timezone: area.timezone,
        quiet_hours_json: area.quietHours ? JSON.stringify(area.quietHours) : null,
        schedule_approval: area.scheduleApproval,
        geocodes_json: JSON.stringify(area.geocodes),
        created_at: area.createdAt,
      })
      .execute();
    return area;
  }

  async update(id: string, patch: Partial<AreaInput>): Promise<Area> {
    const current = await this.require(id);
    const next = { ...current, ...patch, geocodes: patch.geocodes === undefined ? current.geocodes : (patch.geocodes ?? []) };
    if (patch.parentId !== undefined && patch.parentId !== null) {
      await this.require(patch.parentId);
      if ((await this.subtreeIds(id)).has(patch.parentId)) {
        throw brokerError('LOA_ERR_INVALID', { en: 'an area cannot move under itself', vi: 'không thể chuyển địa bàn vào chính nó' });
      }
    }
    if (next.timezone && !isValidTimezone(next.timezone)) {
      throw brokerError('LOA_ERR_INVALID', { en: `unknown timezone ${next.timezone}`, vi: `múi giờ không hợp lệ ${next.timezone}` });
    }
    await this.db
      .updateTable('areas')
      .set({
        name: next.name,
        parent_id: next.parentId,
        timezone: next.timezone,
        quiet_hours_json: next.quietHours ? JSON.stringify(next.quietHours) : null,
        schedule_approval: next.scheduleApproval,
        geocodes_json: JSON.stringify(next.geocodes),
      })
      .where('id', '=', id)
      .execute();
    return next;
  }

  /** Refuses to delete an area that still has sub-areas, devices, users or content. */
  async delete(id: string): Promise<void> {
    await this.require(id);
    const { rows } = await sql<{ n: number | string }>`SELECT (SELECT COUNT(*) FROM areas WHERE parent_id = ${id}) + (SELECT COUNT(*) FROM devices WHERE area_id = ${id})
              + (SELECT COUNT(*) FROM users WHERE area_id = ${id}) + (SELECT COUNT(*) FROM content WHERE area_id = ${id})
              + (SELECT COUNT(*) FROM stream_sources WHERE area_id = ${id}) AS n`.execute(this.db);
    if (Number(rows[0]?.n ?? 0) > 0) {
      throw brokerError('LOA_ERR_IN_USE', {
        en: 'the area still has sub-areas, devices, users, service accounts (revoked ones too) or content',
        vi: 'địa bàn vẫn còn địa bàn con, thiết bị, người dùng, tài khoản dịch vụ (kể cả đã thu hồi) hoặc nội dung',
      });
    }
    // A foreign key (a device or user added meanwhile by another process) still refuses the delete.
    await this.db.deleteFrom('areas').where('id', '=', id).execute();
  }

  /** Areas whose geocodes include one of `codes`. */
  async byGeocode(codes: string[]): Promise<Area[]> {
    const wanted = new Set(codes.map((c) => c.trim().toLowerCase()));
    return (await this.list()).filter((a) => a.geocodes.some((g) => wanted.has(g.toLowerCase())));
  }

  /** The area and all areas below it. */
  async subtreeIds(rootId: string): Promise<Set<string>> {
    const { rows } = await sql<{ id: string }>`WITH RECURSIVE ${subtreeCte(sql`SELECT id FROM areas WHERE id = ${rootId}`)} SELECT id FROM sub`.execute(this.db);
    return new Set(rows.map((r) => r.id));
  }

  /** The area itself first, then its parent, up to the root. */
  async ancestorIds(id: string): Promise<string[]> {
    return (await this.ancestors(id)).map((a) => a.id);
  }

  /** `ancestorIds` of several areas in one query (a reconnect storm's logins, devices.ts). */
  async ancestorIdsOfMany(ids: readonly string[]): Promise<Map<string, string[]>> {
    const chains = new Map<string, string[]>();
    if (ids.length === 0) return chains;
    const { rows } = await sql<{ start: string; id: string }>`WITH RECURSIVE up(start, id, parent_id, depth) AS (
           SELECT areas.id, areas.id, areas.parent_id, 0 FROM areas WHERE ${inList(this.db, 'areas.id', new Set(ids))}
           UNION ALL SELECT up.start, a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id)
         SELECT start, id FROM up ORDER BY start, depth`.execute(this.db);
    for (const r of rows) {
      const chain = chains.get(r.start);
      if (chain) chain.push(r.id);
      else chains.set(r.start, [r.id]);
    }
    return chains;
  }

  /** The area itself first, then its parent, up to the root: whole rows, in one query. */
  private async ancestors(id: string): Promise<Area[]> {
    const { rows } = await sql<Row & { depth: number }>`WITH RECURSIVE up(id, parent_id, depth) AS (SELECT id, parent_id, 0 FROM areas WHERE id = ${id}
           UNION ALL SELECT a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id)
         SELECT areas.*, up.depth FROM up JOIN areas ON areas.id = up.id ORDER BY up.depth`.execute(this.db);
    return rows.map(toArea);
  }

  /** The quiet hours that apply to an area (its own, else the nearest ancestor's), with its timezone. */
  async effectiveQuietHours(id: string): Promise<QuietHours | null> {
    const chain = await this.ancestors(id);
    const qh = chain.find((a) => a.quietHours)?.quietHours;
    return qh ? { ...qh, timeZone: timezoneOf(chain) } : null;
  }

  /** The approval rule that applies to an area: its own, else the nearest ancestor's, else `operators`. */
  async effectiveScheduleApproval(id: string): Promise<ScheduleApproval> {
    return (await this.ancestors(id)).find((a) => a.scheduleApproval)?.scheduleApproval ?? DEFAULT_SCHEDULE_APPROVAL;
  }

  /** The timezone that applies to an area: its own, else the nearest ancestor's, else Vietnam's. */
  async effectiveTimezone(id: string): Promise<string> {
    return timezoneOf(await this.ancestors(id));
  }
}

function timezoneOf(chain: Area[]): string {
  return chain.find((a) => a.timezone)?.timezone ?? DEFAULT_TIMEZONE;
}
