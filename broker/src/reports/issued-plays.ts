/**
 * What each device was given to play: every play of every desired state derived for it. A play
 * report must name one of these (issue 14), so a speaker cannot report plays it was never sent.
 * Kept for RETAIN_MS, longer than an agent's outbox plausibly holds a report.
 */
import { sql } from 'kysely';
import type { DesiredPlay } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { tuplesTable, type Executor } from '../store/portable.js';

export interface IssuedPlay {
  scheduleId: string;
  /** The play's length; for a relay, its window. The longest, if the play was given more than once. */
  durationMs: number;
}

/** A play as a report names it. */
export interface IssuedPlayKey {
  deviceId: string;
  playId: string;
  contentId: string;
}

export const ISSUED_PLAYS_RETAIN_MS = 90 * 24 * 3600_000;

/** Rows per INSERT: 6 parameters each, well under SQLite's and PostgreSQL's limits. */
const CHUNK = 500;

export class IssuedPlays {
  constructor(private readonly db: Database) {}

  /**
   * Records the plays of a state given to a device; a play given again keeps its longest length.
   * `executor`: the caller's transaction, to record the plays with the state that names them.
   *
   * One upsert per chunk: a play recorded by two servers at once ends with the longer length
   * whichever writes first (the comparison is made by the database, on the stored row).
   */
  async record(deviceId: string, plays: DesiredPlay[], executor?: Executor): Promise<void> {
    // One row per key: PostgreSQL refuses an upsert that touches the same row twice.
    const byKey = new Map<string, DesiredPlay>();
    for (const p of plays) {
      const key = JSON.stringify([p.playId, p.contentId]);
      const seen = byKey.get(key);
      if (!seen || p.durationMs > seen.durationMs) byKey.set(key, seen ? { ...seen, durationMs: p.durationMs } : p);
    }
    const rows = [...byKey.values()].map((p) => ({ device_id: deviceId, play_id: p.playId, content_id: p.contentId, schedule_id: p.scheduleId, duration_ms: p.durationMs, start_at: p.startAt }));
    if (rows.length === 0) return;
    const write = async (ex: Executor) => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await ex
          .insertInto('issued_plays')
          .values(rows.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.columns(['device_id', 'play_id', 'content_id']).doUpdateSet({
              // MAX(a, b) is SQLite's, GREATEST(a, b) PostgreSQL's: CASE reads the same in both.
              duration_ms: sql<number>`CASE WHEN excluded.duration_ms > issued_plays.duration_ms THEN excluded.duration_ms ELSE issued_plays.duration_ms END`,
            }),
          )
          .execute();
      }
    };
    if (executor) await write(executor);
    else if (rows.length <= CHUNK) await write(this.db);
    else await this.db.transaction().execute(write);
  }

  async find(deviceId: string, playId: string, contentId: string, executor: Executor = this.db): Promise<IssuedPlay | null> {
    const row = await executor
      .selectFrom('issued_plays')
      .select(['schedule_id', 'duration_ms'])
      .where('device_id', '=', deviceId)
      .where('play_id', '=', playId)
      .where('content_id', '=', contentId)
      .executeTakeFirst();
    return row ? { scheduleId: row.schedule_id, durationMs: row.duration_ms } : null;
  }

  /**
   * The plays of a batch of reports in one query (issue 16: report ingest in batches), in the
   * order of `keys`; null where the play was never given. Keys may repeat.
   */
  async findMany(keys: readonly IssuedPlayKey[], executor: Executor = this.db): Promise<(IssuedPlay | null)[]> {
    if (keys.length === 0) return [];
    if (keys.length === 1) return [await this.find(keys[0]!.deviceId, keys[0]!.playId, keys[0]!.contentId, executor)];
    const tuple = (k: IssuedPlayKey) => JSON.stringify([k.deviceId, k.playId, k.contentId]);
    const unique = new Map<string, IssuedPlayKey>();
    for (const k of keys) unique.set(tuple(k), k);
    const wanted = tuplesTable(
      executor,
      ['device_id', 'play_id', 'content_id'],
      [...unique.values()].map((k) => [k.deviceId, k.playId, k.contentId]),
    );
    const { rows } = await sql<{ device_id: string; play_id: string; content_id: string; schedule_id: string; duration_ms: number }>`
      SELECT ip.device_id, ip.play_id, ip.content_id, ip.schedule_id, ip.duration_ms
      FROM (${wanted}) k
      JOIN issued_plays ip ON ip.device_id = k.device_id AND ip.play_id = k.play_id AND ip.content_id = k.content_id`.execute(executor);
    const found = new Map<string, IssuedPlay>();
    for (const r of rows) found.set(tuple({ deviceId: r.device_id, playId: r.play_id, contentId: r.content_id }), { scheduleId: r.schedule_id, durationMs: Number(r.duration_ms) });
    return keys.map((k) => found.get(tuple(k)) ?? null);
  }

  /** Forgets plays that started before `before` (ms); returns how many. */
  async prune(before: number, executor: Executor = this.db): Promise<number> {
    const result = await executor.deleteFrom('issued_plays').where('start_at', '<', new Date(before).toISOString()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
