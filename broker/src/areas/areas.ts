/** The administrative area tree (any depth: province → district → commune → village). */
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { newId, type QuietHours } from '@loalang/protocol';
import { iso } from '../time.js';

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
    private readonly db: Db,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  get(id: string): Area | null {
    const row = this.db.prepare('SELECT * FROM areas WHERE id = ?').get(id) as Row | undefined;
    return row ? toArea(row) : null;
  }

  require(id: string): Area {
    const area = this.get(id);
    if (!area) throw brokerError('LOA_ERR_NOT_FOUND', { en: `area ${id}`, vi: `địa bàn ${id}` });
    return area;
  }

  list(): Area[] {
    return (this.db.prepare('SELECT * FROM areas ORDER BY name').all() as Row[]).map(toArea);
  }

  /** Every area with the timezone its times are read in (see effectiveTimezone), in one pass over the tree. */
  listWithTimezones(): (Area & { effectiveTimezone: string })[] {
    const all = this.list();
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

  create(input: AreaInput & { id?: string }): Area {
    if (input.parentId !== null) this.require(input.parentId);
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
    this.db
      .prepare('INSERT INTO areas (id, name, parent_id, timezone, quiet_hours_json, schedule_approval, geocodes_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(area.id, area.name, area.parentId, area.timezone, area.quietHours ? JSON.stringify(area.quietHours) : null, area.scheduleApproval, JSON.stringify(area.geocodes), area.createdAt);
    return area;
  }

  update(id: string, patch: Partial<AreaInput>): Area {
    const current = this.require(id);
    const next = { ...current, ...patch, geocodes: patch.geocodes === undefined ? current.geocodes : (patch.geocodes ?? []) };
    if (patch.parentId !== undefined && patch.parentId !== null) {
      this.require(patch.parentId);
      if (this.subtreeIds(id).has(patch.parentId)) {
        throw brokerError('LOA_ERR_INVALID', { en: 'an area cannot move under itself', vi: 'không thể chuyển địa bàn vào chính nó' });
      }
    }
    if (next.timezone && !isValidTimezone(next.timezone)) {
      throw brokerError('LOA_ERR_INVALID', { en: `unknown timezone ${next.timezone}`, vi: `múi giờ không hợp lệ ${next.timezone}` });
    }
    this.db
      .prepare('UPDATE areas SET name = ?, parent_id = ?, timezone = ?, quiet_hours_json = ?, schedule_approval = ?, geocodes_json = ? WHERE id = ?')
      .run(next.name, next.parentId, next.timezone, next.quietHours ? JSON.stringify(next.quietHours) : null, next.scheduleApproval, JSON.stringify(next.geocodes), id);
    return next;
  }

  /** Refuses to delete an area that still has sub-areas, devices, users or content. */
  delete(id: string): void {
    this.require(id);
    const uses = this.db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM areas WHERE parent_id = @id) + (SELECT COUNT(*) FROM devices WHERE area_id = @id)
              + (SELECT COUNT(*) FROM users WHERE area_id = @id) + (SELECT COUNT(*) FROM content WHERE area_id = @id)
              + (SELECT COUNT(*) FROM stream_sources WHERE area_id = @id) AS n`,
      )
      .get({ id }) as { n: number };
    if (uses.n > 0) {
      throw brokerError('LOA_ERR_IN_USE', {
        en: 'the area still has sub-areas, devices, users or content',
        vi: 'địa bàn vẫn còn địa bàn con, thiết bị, người dùng hoặc nội dung',
      });
    }
    this.db.prepare('DELETE FROM areas WHERE id = ?').run(id);
  }

  /** Areas whose geocodes include one of `codes`. */
  byGeocode(codes: string[]): Area[] {
    const wanted = new Set(codes.map((c) => c.trim().toLowerCase()));
    return this.list().filter((a) => a.geocodes.some((g) => wanted.has(g.toLowerCase())));
  }

  /** The area and all areas below it. */
  subtreeIds(rootId: string): Set<string> {
    const rows = this.db
      .prepare(
        `WITH RECURSIVE sub(id) AS (SELECT id FROM areas WHERE id = ? UNION ALL SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id)
         SELECT id FROM sub`,
      )
      .all(rootId) as { id: string }[];
    return new Set(rows.map((r) => r.id));
  }

  /** The area itself first, then its parent, up to the root. */
  ancestorIds(id: string): string[] {
    const rows = this.db
      .prepare(
        `WITH RECURSIVE up(id, parent_id, depth) AS (SELECT id, parent_id, 0 FROM areas WHERE id = ?
           UNION ALL SELECT a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id)
         SELECT id FROM up ORDER BY depth`,
      )
      .all(id) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** The quiet hours that apply to an area (its own, else the nearest ancestor's), with its timezone. */
  effectiveQuietHours(id: string): QuietHours | null {
    for (const areaId of this.ancestorIds(id)) {
      const qh = this.get(areaId)?.quietHours;
      if (qh) return { ...qh, timeZone: this.effectiveTimezone(id) };
    }
    return null;
  }

  /** The approval rule that applies to an area: its own, else the nearest ancestor's, else `operators`. */
  effectiveScheduleApproval(id: string): ScheduleApproval {
    for (const areaId of this.ancestorIds(id)) {
      const rule = this.get(areaId)?.scheduleApproval;
      if (rule) return rule;
    }
    return DEFAULT_SCHEDULE_APPROVAL;
  }

  /** The timezone that applies to an area: its own, else the nearest ancestor's, else Vietnam's. */
  effectiveTimezone(id: string): string {
    for (const areaId of this.ancestorIds(id)) {
      const tz = this.get(areaId)?.timezone;
      if (tz) return tz;
    }
    return DEFAULT_TIMEZONE;
  }
}
