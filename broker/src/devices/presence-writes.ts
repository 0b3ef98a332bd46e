/**
 * Presence changes written in batches: the changes that arrive in one turn of the event loop
 * (at most PRESENCE_BATCH) share one transaction of four statements, whatever their number.
 *
 * Why: when a node dies, its thousands of speakers connect to the others within seconds. One
 * transaction per speaker (lock, update, history, commit: five round trips and a durable
 * commit each) filled the database pool, and the devices' own logins then waited for a
 * connection past the pool's 5 s and were refused (issue 17: 5,989 of 10,000 back in 120 s).
 *
 * The rule per change is the one `DeviceRepo.setPresence` states, and one device's changes are
 * written in the order given (a change waits for the batch holding the device's previous one).
 * On PostgreSQL the batch's rows
 * are locked first, in code-unit order of their ids (as every writer of several rows locks
 * them), so two nodes' batches wait for each other and cannot deadlock; a batch PostgreSQL
 * picks as a conflict's victim anyway runs again.
 */
import { sql } from 'kysely';
import type { Database } from '../store/database.js';
import { dialectOf, inList, tuplesTable } from '../store/portable.js';
import { codeUnitOrder, retryConflicts } from '../store/conflicts.js';
import { iso } from '../time.js';

/** The most presence changes written in one transaction. */
export const PRESENCE_BATCH = 500;

interface Change {
  id: string;
  online: boolean;
  cause: string;
  at: number;
  settle: (changed: boolean) => void;
  fail: (err: unknown) => void;
}

export class PresenceWriter {
  private queued: Change[] = [];
  private flushArmed = false;
  /** Devices whose change is in a batch being written. */
  private readonly writing = new Set<string>();

  constructor(
    private readonly db: Database,
    /** The node recorded as holding a device that comes online (null: a single server). */
    private readonly nodeId: string | null,
  ) {}

  /** Queues one change; settles with whether it was recorded (see DeviceRepo.setPresence) once its batch commits. */
  write(id: string, online: boolean, cause: string, at: number): Promise<boolean> {
    return new Promise((settle, fail) => {
      this.queued.push({ id, online, cause, at, settle, fail });
      if (this.queued.length >= PRESENCE_BATCH) this.flush();
      else this.armFlush();
    });
  }

  private armFlush(): void {
    if (this.flushArmed) return;
    this.flushArmed = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushArmed = false;
    // A device whose earlier change is still being written waits for it (batches run side by
    // side, and the later one could take the row's lock first): its changes stay in order.
    const batch: Change[] = [];
    const waiting: Change[] = [];
    for (const change of this.queued) {
      if (batch.length < PRESENCE_BATCH && !this.writing.has(change.id)) {
        this.writing.add(change.id);
        batch.push(change);
      } else waiting.push(change);
    }
    this.queued = waiting;
    // What waits only for room goes in the next turn; what waits for its device, when that batch settles.
    if (waiting.some((c) => !this.writing.has(c.id))) this.armFlush();
    if (batch.length === 0) return;
    retryConflicts(() => this.record(batch))
      .then(
        (results) => batch.forEach((c, i) => c.settle(results[i]!)),
        (err: unknown) => batch.forEach((c) => c.fail(err)),
      )
      .finally(() => {
        for (const c of batch) this.writing.delete(c.id);
        if (this.queued.length > 0) this.armFlush();
      });
  }

  private record(batch: readonly Change[]): Promise<boolean[]> {
    const node = this.nodeId;
    return this.db.transaction().execute(async (trx) => {
      const ids = batch.map((c) => c.id).sort(codeUnitOrder);
      let read = trx.selectFrom('devices').select(['id', 'online', 'node_id']).where(inList(trx, 'id', ids)).orderBy('id');
      if (dialectOf(trx) === 'postgres') read = read.forUpdate();
      const rows = new Map((await read.execute()).map((r) => [r.id, r]));
      const updates: string[][] = [];
      const history: string[][] = [];
      const results = batch.map((c) => {
        const row = rows.get(c.id);
        if (!row) return false;
        const when = iso(c.at);
        if (c.online) {
          if (row.online === 1 && row.node_id === node) return false;
          // Online through this node, whether it was offline or held by another node.
          updates.push([c.id, '1', when]);
          if (row.online === 1) return false;
          history.push([c.id, '1', c.cause, when]);
          return true;
        }
        if (row.online !== 1 || (node !== null && row.node_id !== null && row.node_id !== node)) return false;
        updates.push([c.id, '0', when]);
        history.push([c.id, '0', c.cause, when]);
        return true;
      });
      if (updates.length > 0) {
        await sql`UPDATE devices SET online = CAST(v.online AS INTEGER), last_seen_at = v.at,
            node_id = CASE WHEN v.online = '1' THEN CAST(${node} AS TEXT) ELSE devices.node_id END
          FROM (${tuplesTable(trx, ['id', 'online', 'at'], updates)}) AS v WHERE devices.id = v.id`.execute(trx);
      }
      if (history.length > 0) {
        await sql`INSERT INTO presence_history (device_id, online, cause, at)
          SELECT v.id, CAST(v.online AS INTEGER), v.cause, v.at FROM (${tuplesTable(trx, ['id', 'online', 'cause', 'at'], history)}) AS v`.execute(trx);
      }
      return results;
    });
  }
}
