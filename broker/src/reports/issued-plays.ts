/**
 * What each device was given to play: every play of every desired state derived for it. A play
 * report must name one of these (issue 14), so a speaker cannot report plays it was never sent.
 * Kept for RETAIN_MS, longer than an agent's outbox plausibly holds a report.
 */
import type { DesiredPlay } from '@loalang/protocol';
import type { Db } from '../store/db.js';

export interface IssuedPlay {
  scheduleId: string;
  /** The play's length; for a relay, its window. The longest, if the play was given more than once. */
  durationMs: number;
}

export const ISSUED_PLAYS_RETAIN_MS = 90 * 24 * 3600_000;

export class IssuedPlays {
  constructor(private readonly db: Db) {}

  /** Records the plays of a state given to a device; a play given again keeps its longest length. */
  record(deviceId: string, plays: DesiredPlay[]): void {
    const add = this.db.prepare(
      `INSERT INTO issued_plays (device_id, play_id, content_id, schedule_id, duration_ms, start_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, play_id, content_id) DO UPDATE SET duration_ms = MAX(duration_ms, excluded.duration_ms)`,
    );
    this.db.transaction(() => {
      for (const p of plays) add.run(deviceId, p.playId, p.contentId, p.scheduleId, p.durationMs, p.startAt);
    })();
  }

  find(deviceId: string, playId: string, contentId: string): IssuedPlay | null {
    const row = this.db.prepare('SELECT schedule_id, duration_ms FROM issued_plays WHERE device_id = ? AND play_id = ? AND content_id = ?').get(deviceId, playId, contentId) as
      | { schedule_id: string; duration_ms: number }
      | undefined;
    return row ? { scheduleId: row.schedule_id, durationMs: row.duration_ms } : null;
  }

  /** Forgets plays that started before `before` (ms); returns how many. */
  prune(before: number): number {
    return this.db.prepare('DELETE FROM issued_plays WHERE start_at < ?').run(new Date(before).toISOString()).changes;
  }
}
