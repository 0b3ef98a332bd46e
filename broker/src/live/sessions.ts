/**
 * Live announcements as records (issue 18): who opened one, for which areas, with which
 * priority, when it ran on which node, how it ended and its recording. A session is prepared by
 * an authorised caller (a row with the hash of a one-time ticket) and taken by the first source
 * that presents the ticket, on whichever node of a cluster it connects to.
 */
import { createHash } from 'node:crypto';
import type { Database } from '../store/database.js';
import type { LiveSessionsTable } from '../store/schema.js';

export type LivePriority = 'priority' | 'emergency';

export interface LiveSessionRecord {
  id: string;
  areaIds: string[];
  priority: LivePriority;
  title: string | null;
  volume: number | null;
  createdBy: string | null;
  /** Who that is (their username), while the account exists. */
  createdByName: string | null;
  createdAt: string;
  /** The node its source feeds (null before the ticket is taken). */
  nodeId: string | null;
  startedAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  /** The node's counts of frames placed, dropped, groups sent… (set at its end). */
  frames: Record<string, number> | null;
  /** The recording in the library (its id is the session's), once stored. */
  contentId: string | null;
  recordingError: string | null;
}

export type NewLiveRecord = Pick<LiveSessionRecord, 'id' | 'areaIds' | 'priority' | 'title' | 'volume' | 'createdBy' | 'createdAt'> & {
  ticket: string;
  ticketExpiresAt: string;
};

/** What is stored of a ticket: it is shown once, to the caller who prepared the session. */
export const ticketHash = (ticket: string): string => createHash('sha256').update(ticket).digest('hex');

/** A row as read: its table's columns but the ticket's, and who created it. */
type Row = Omit<LiveSessionsTable, 'ticket_hash' | 'ticket_expires_at'> & { created_by_name: string | null };

const toRecord = (r: Row): LiveSessionRecord => ({
  id: r.id,
  areaIds: JSON.parse(r.area_ids_json) as string[],
  priority: r.priority,
  title: r.title,
  volume: r.volume === null ? null : Number(r.volume),
  createdBy: r.created_by,
  createdByName: r.created_by_name,
  createdAt: r.created_at,
  nodeId: r.node_id,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  endReason: r.end_reason,
  frames: r.frames_json ? (JSON.parse(r.frames_json) as Record<string, number>) : null,
  contentId: r.content_id,
  recordingError: r.recording_error,
});

export class LiveSessionRepo {
  constructor(private readonly db: Database) {}

  async create(s: NewLiveRecord): Promise<LiveSessionRecord> {
    await this.db
      .insertInto('live_sessions')
      .values({
        id: s.id,
        area_ids_json: JSON.stringify(s.areaIds),
        priority: s.priority,
        title: s.title,
        volume: s.volume,
        created_by: s.createdBy,
        created_at: s.createdAt,
        ticket_hash: ticketHash(s.ticket),
        ticket_expires_at: s.ticketExpiresAt,
      })
      .execute();
    return (await this.get(s.id))!;
  }

  /**
   * Takes the session for this node if `ticket` is its ticket, unused and not expired at `now`:
   * one statement, so of two sources presenting it at once (on two nodes) one wins.
   */
  async claim(id: string, ticket: string, nodeId: string, now: string): Promise<LiveSessionRecord | null> {
    const result = await this.db
      .updateTable('live_sessions')
      .set({ ticket_hash: null, node_id: nodeId, started_at: now })
      .where('id', '=', id)
      .where('ticket_hash', '=', ticketHash(ticket))
      .where('ticket_expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? this.get(id) : null;
  }

  async finish(id: string, end: { endedAt: string; endReason: string; frames: Record<string, number> }): Promise<void> {
    await this.db
      .updateTable('live_sessions')
      .set({ ended_at: end.endedAt, end_reason: end.endReason, frames_json: JSON.stringify(end.frames), ticket_hash: null })
      .where('id', '=', id)
      .execute();
  }

  async recorded(id: string, outcome: { contentId: string } | { error: string }): Promise<void> {
    await this.db
      .updateTable('live_sessions')
      .set('contentId' in outcome ? { content_id: outcome.contentId, recording_error: null } : { recording_error: outcome.error.slice(0, 500) })
      .where('id', '=', id)
      .execute();
  }

  async get(id: string): Promise<LiveSessionRecord | null> {
    const row = await this.selectRecords().where('live_sessions.id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /** The newest first. */
  async list(limit: number): Promise<LiveSessionRecord[]> {
    const rows = await this.selectRecords().orderBy('live_sessions.created_at', 'desc').orderBy('live_sessions.id').limit(limit).execute();
    return rows.map(toRecord);
  }

  private selectRecords() {
    return this.db
      .selectFrom('live_sessions')
      .leftJoin('users', 'users.id', 'live_sessions.created_by')
      .select([
        'live_sessions.id', 'live_sessions.area_ids_json', 'live_sessions.priority', 'live_sessions.title', 'live_sessions.volume', 'live_sessions.created_by', 'users.username as created_by_name', 'live_sessions.created_at',
        'live_sessions.node_id', 'live_sessions.started_at', 'live_sessions.ended_at', 'live_sessions.end_reason', 'live_sessions.frames_json', 'live_sessions.content_id', 'live_sessions.recording_error',
      ]);
  }
}
