/**
 * Presence changes written in batches: the changes that arrive in one turn of the event loop
 * (at most PRESENCE_BATCH) share one transaction of four statements, whatever their number.
 *
 * Why: when a node dies, its thousands of speakers connect to the others within seconds. One
 * transaction per speaker (lock, update, history, commit: five round trips and a durable
 * commit each) was one of the loads on the database pool while the devices' own logins waited
 * for a connection from it (issue 17).
 *
 * The rule per change is the one `DeviceRepo.setPresence` states. Between nodes, the newer
 * connection wins: a device held online by another node is taken over only by a connection that
 * began later (`at`, which nodes give on the database server's clock, their one clock). A node's
 * write can be seconds late in a reconnect storm; without this, its "online" for a connection the
 * device has already left would take the row back from the node holding it now, and its
 * "offline" that follows would then record the device offline while it is connected. One device's changes are
 * written in the order given: its next change joins a batch only once the batch holding its
 * previous one has settled (KeyedSerial), so a batch never names a device twice. On PostgreSQL
 * the batch's rows are locked first, in code-unit order of their ids (as every writer of
 * several rows locks them), so two nodes' batches wait for each other and cannot deadlock; a
 * batch PostgreSQL picks as a conflict's victim anyway runs again.
 */
import { sql } from 'kysely';
import type { Database } from '../store/database.js';
import { dialectOf, inList, tuplesTable } from '../store/portable.js';
import { codeUnitOrder, retryConflicts } from '../store/conflicts.js';
import { iso } from '../time.js';
import { KeyedSerial } from '../keyed-serial.js';
import { TurnBatch } from '../turn-batch.js';

/** The most presence changes written in one transaction. */
export const PRESENCE_BATCH = 500;

interface Change {
  id: string;
  online: boolean;
  cause: string;
  at: number;
}

export class PresenceWriter {
  private readonly batches: TurnBatch<Change, boolean>;
  /** One change of a device at a time (see the file's comment). */
  private readonly perDevice = new KeyedSerial();

  constructor(
    private readonly db: Database,
    /** The node recorded as holding a device that comes online (null: a single server). */
    private readonly nodeId: string | null,
  ) {
    this.batches = new TurnBatch((batch) => retryConflicts(() => this.record(batch)), PRESENCE_BATCH);
  }

  /** Queues one change; settles with whether it was recorded (see DeviceRepo.setPresence) once its batch commits. */
  write(id: string, online: boolean, cause: string, at: number): Promise<boolean> {
    return this.perDevice.run(id, () => this.batches.add({ id, online, cause, at }));
  }

  private record(batch: readonly Change[]): Promise<boolean[]> {
    const node = this.nodeId;
    return this.db.transaction().execute(async (trx) => {
      const ids = batch.map((c) => c.id).sort(codeUnitOrder);
      let read = trx.selectFrom('devices').select(['id', 'online', 'node_id', 'connected_at_ms']).where(inList(trx, 'id', ids)).orderBy('id');
      if (dialectOf(trx) === 'postgres') read = read.forUpdate();
      const rows = new Map((await read.execute()).map((r) => [r.id, r]));
      const updates: (string | null)[][] = [];
      const history: string[][] = [];
      const results = batch.map((c) => {
        const row = rows.get(c.id);
        if (!row) return false;
        const when = iso(c.at);
        if (c.online) {
          if (row.online === 1 && row.node_id === node) return false;
          // Held by another node through a connection newer than this one: that node's is current.
          if (row.online === 1 && row.connected_at_ms !== null && c.at < Number(row.connected_at_ms)) return false;
          // Online through this node, whether it was offline or held by another node.
          updates.push([c.id, '1', when, String(c.at)]);
          if (row.online === 1) return false;
          history.push([c.id, '1', c.cause, when]);
          return true;
        }
        if (row.online !== 1 || (node !== null && row.node_id !== null && row.node_id !== node)) return false;
        updates.push([c.id, '0', when, null]);
        history.push([c.id, '0', c.cause, when]);
        return true;
      });
      if (updates.length > 0) {
        await sql`UPDATE devices SET online = CAST(v.online AS INTEGER), last_seen_at = v.at,
            node_id = CASE WHEN v.online = '1' THEN CAST(${node} AS TEXT) ELSE devices.node_id END,
            connected_at_ms = CASE WHEN v.online = '1' THEN CAST(v.since AS BIGINT) ELSE devices.connected_at_ms END
          FROM (${tuplesTable(trx, ['id', 'online', 'at', 'since'], updates)}) AS v WHERE devices.id = v.id`.execute(trx);
      }
      if (history.length > 0) {
        await sql`INSERT INTO presence_history (device_id, online, cause, at)
          SELECT v.id, CAST(v.online AS INTEGER), v.cause, v.at FROM (${tuplesTable(trx, ['id', 'online', 'cause', 'at'], history)}) AS v`.execute(trx);
      }
      return results;
    });
  }
}
