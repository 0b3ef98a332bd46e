/**
 * Derives each device's desired state (its plays in the coming horizon) from the approved
 * schedules, and keeps a version that rises whenever the plays change. SQLite is the
 * truth: the state can be re-derived and re-sent after any restart.
 */
import { createHash } from 'node:crypto';
import type { DesiredPlay, DesiredState } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { Schedule, ScheduleRepo } from './schedules.js';
import { iso } from '../time.js';
import { occurrences } from './recurrence.js';
import { itemDurationMs, itemSource } from './items.js';
import type { IssuedPlays } from '../reports/issued-plays.js';
import { DEFAULT_STATE_BUDGET, fitToBudget, type CutPlays, type StateBudget } from './state-budget.js';

export interface DesiredStateOptions {
  horizonMs: number;
  /** Plays that ended longer ago than this are left out. */
  pastMs: number;
  /** Silence between consecutive items of one schedule. */
  itemGapMs: number;
  /** Base URL devices fetch content from, e.g. http://server:8080 (known once HTTP listens). */
  publicHttpUrl: () => string;
}

export const DEFAULT_DESIRED_OPTIONS: Omit<DesiredStateOptions, 'publicHttpUrl'> = {
  horizonMs: 48 * 3600_000,
  pastMs: 10 * 60_000,
  itemGapMs: 1000,
};

/** Start instants of a schedule's runs that may overlap [from, until): one for a one-off schedule. */
export function runStarts(schedule: Schedule, timeZone: string, from: number, until: number, spanMs: number): number[] {
  const start = Date.parse(schedule.start);
  if (!schedule.recurrence) return [start];
  return occurrences(schedule.recurrence, timeZone, { from: from - spanMs, until, notBefore: start });
}

/** Silence between passes beyond the usual gap after an item: `gapSec` in all. */
function passGapMs(schedule: Schedule, options: Pick<DesiredStateOptions, 'itemGapMs'>): number {
  return Math.max(0, schedule.repeat.gapSec * 1000 - options.itemGapMs);
}

/** How long one run lasts: every pass of the playlist with its gaps. */
export function runSpanMs(schedule: Schedule, content: ContentRepo, options: Pick<DesiredStateOptions, 'itemGapMs'>): number {
  const pass = schedule.items.reduce((n, i) => n + itemDurationMs(i, content) + options.itemGapMs, 0);
  return schedule.repeat.count * pass + (schedule.repeat.count - 1) * passGapMs(schedule, options);
}

/** The plays of one run of a schedule: its items one after another from `runStart`, `repeat.count` times. */
export function playsOfRun(schedule: Schedule, runStart: number, content: ContentRepo, options: DesiredStateOptions): DesiredPlay[] {
  const plays: DesiredPlay[] = [];
  let at = runStart;
  const passes = Array.from({ length: schedule.repeat.count }, (_, pass) => schedule.items.map((item, i) => ({ item, index: pass * schedule.items.length + i, pass, first: i === 0 })));
  passes.flat().forEach(({ item, index, pass, first }) => {
    if (first && pass > 0) at += passGapMs(schedule, options);
    const source = itemSource(item, content, options.publicHttpUrl);
    if (!source) return;
    const play: DesiredPlay = {
      // Derived, so re-deriving gives the same id and an agent never plays a run twice.
      playId: `${schedule.id}_${index}_${Math.floor(runStart / 1000)}`,
      scheduleId: schedule.id,
      ...source,
      startAt: iso(at),
      priority: schedule.priority,
      title: schedule.title.slice(0, 200),
    };
    if (schedule.volume !== null) play.volume = schedule.volume;
    plays.push(play);
    at += source.durationMs + options.itemGapMs;
  });
  return plays;
}

export class DesiredStateService {
  constructor(
    private readonly db: Db,
    private readonly deps: { areas: AreaRepo; devices: DeviceRepo; schedules: ScheduleRepo; content: ContentRepo; issuedPlays: IssuedPlays },
    private readonly options: DesiredStateOptions,
    private readonly now: () => number,
    private readonly budget: StateBudget = DEFAULT_STATE_BUDGET,
  ) {}

  private computePlays(deviceId: string): DesiredPlay[] {
    const device = this.deps.devices.require(deviceId);
    const areaIds = this.deps.areas.ancestorIds(device.areaId);
    const now = this.now();
    const from = now - this.options.pastMs;
    const until = now + this.options.horizonMs;
    const plays = this.deps.schedules
      .approvedFor(deviceId, areaIds)
      .flatMap((s) => {
        const span = runSpanMs(s, this.deps.content, this.options);
        const tz = this.deps.areas.effectiveTimezone(s.areaId);
        return runStarts(s, tz, from, until, span).flatMap((run) => playsOfRun(s, run, this.deps.content, this.options));
      })
      .filter((p) => Date.parse(p.startAt) + p.durationMs >= from && Date.parse(p.startAt) <= until);
    return plays.sort((a, b) => a.startAt.localeCompare(b.startAt) || a.playId.localeCompare(b.playId));
  }

  /**
   * Recomputes the device's plays; bumps the version only when they changed.
   * Returns the state to send and whether it is new.
   */
  refresh(deviceId: string): { state: DesiredState; changed: boolean; cut: CutPlays[] } {
    const { plays, cut } = fitToBudget(this.computePlays(deviceId), this.budget);
    const areaId = this.deps.devices.require(deviceId).areaId;
    const quietHours = this.deps.areas.effectiveQuietHours(areaId);
    const areaIds = this.deps.areas.ancestorIds(areaId);
    const digest = createHash('sha256').update(JSON.stringify({ plays, quietHours, areaIds })).digest('hex');
    const now = this.now();
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT version, digest FROM device_desired WHERE device_id = ?').get(deviceId) as
        | { version: number; digest: string }
        | undefined;
      const changed = !row || row.digest !== digest;
      const version = changed ? (row?.version ?? 0) + 1 : row.version;
      if (changed) {
        this.db
          .prepare(
            `INSERT INTO device_desired (device_id, version, plays_json, digest, issued_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, plays_json = excluded.plays_json, digest = excluded.digest, issued_at = excluded.issued_at`,
          )
          .run(deviceId, version, JSON.stringify(plays), digest, iso(now));
        // What the device is given is what its reports may name (issue 14).
        // IssuedPlays is async (issue 16): once refresh() is async this is
        // `await this.deps.issuedPlays.record(deviceId, plays, trx)`, inside the state's transaction.
        void this.deps.issuedPlays.record(deviceId, plays).catch((err: unknown) => process.emitWarning(`recording the plays given to ${deviceId} failed: ${String(err)}`));
      }
      const state: DesiredState = {
        v: 1,
        deviceId,
        version,
        issuedAt: iso(now),
        horizonUntil: iso(now + this.options.horizonMs),
        plays,
        ...(quietHours ? { quietHours } : {}),
        areaIds,
      };
      return { state, changed, cut };
    })();
  }

  /** Content ids the device's current desired state names (what it may download). */
  contentIdsFor(deviceId: string): Set<string> {
    const row = this.db.prepare('SELECT plays_json FROM device_desired WHERE device_id = ?').get(deviceId) as { plays_json: string } | undefined;
    const plays = row ? (JSON.parse(row.plays_json) as DesiredPlay[]) : [];
    return new Set(plays.map((p) => p.contentId));
  }
}
