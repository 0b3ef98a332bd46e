/**
 * The nodes of a cluster, as the shared database knows them (issue 17): each node writes a
 * heartbeat on the database server's clock (so nodes whose own clocks are seconds apart still
 * agree on who is alive), and joins only with the cluster's shared secret.
 */
import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { every, type Clock, type Logger, type Repeating } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { databaseNowMs } from '../store/portable.js';
import { iso } from '../time.js';
import { brokerError } from '../errors.js';
import { clusterKey } from './bus.js';
import { DatabaseClock } from './database-clock.js';

export interface NodeTimings {
  /** How often a node writes its heartbeat. */
  heartbeatMs: number;
  /** A node without a heartbeat this long is dead: its devices are marked offline by the leader. */
  deadAfterMs: number;
}

export const DEFAULT_NODE_TIMINGS: NodeTimings = { heartbeatMs: 2000, deadAfterMs: 10_000 };

export interface ClusterNodeInfo {
  id: string;
  startedAt: string;
  /** Ms since its last heartbeat, on the database's clock. */
  silentMs: number;
  alive: boolean;
}

export class NodeRegistry {
  private heartbeat: Repeating | null = null;
  private failing = false;
  /**
   * Called when a heartbeat is written again after failing (the database was away): the leader
   * may have taken this node for dead and marked its devices offline meanwhile.
   */
  onRecovered: () => void = () => undefined;
  private readonly secretCheck: string;
  /** The database's clock as this node reads it at each heartbeat. */
  readonly databaseClock = new DatabaseClock();

  constructor(
    private readonly db: Database,
    readonly nodeId: string,
    secret: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly timings: NodeTimings = DEFAULT_NODE_TIMINGS,
  ) {
    // Proves the secret without revealing it: an HMAC of a fixed text under a key derived from it.
    this.secretCheck = createHmac('sha256', clusterKey(secret, 'check')).update('loalang cluster').digest('hex');
  }

  /**
   * Joins the cluster, or refuses (LOA_ERR_CLUSTER_SECRET) when a live node runs with another
   * secret. With no live node, the secret of whoever starts first is the cluster's: rotating
   * it means restarting every node with the new one.
   */
  async join(): Promise<void> {
    const now = databaseNowMs(this.db);
    const others = await this.db
      .selectFrom('cluster_nodes')
      .select(['id', 'secret_check'])
      .where('id', '!=', this.nodeId)
      .where(sql<boolean>`seen_at_ms >= ${now} - ${this.timings.deadAfterMs}`)
      .execute();
    const strangers = others.filter((o) => o.secret_check !== this.secretCheck).map((o) => o.id);
    if (strangers.length > 0) {
      throw brokerError('LOA_ERR_CLUSTER_SECRET', {
        en: `LOALANG_CLUSTER_SECRET differs from that of the running nodes (${strangers.join(', ')}): this node does not join`,
        vi: `LOALANG_CLUSTER_SECRET khác với của các nút đang chạy (${strangers.join(', ')}): nút này không tham gia cụm`,
      });
    }
    await this.db
      .insertInto('cluster_nodes')
      .values({ id: this.nodeId, started_at: iso(this.clock.now()), seen_at_ms: now as unknown as number, secret_check: this.secretCheck })
      .onConflict((oc) => oc.column('id').doUpdateSet({ started_at: iso(this.clock.now()), seen_at_ms: now as unknown as number, secret_check: this.secretCheck }))
      .execute();
    // A few readings of the database's clock before this node stamps anything with it.
    for (let i = 0; i < 3; i++) await this.readDatabaseClock(async () => (await this.db.selectNoFrom(databaseNowMs(this.db).as('now')).executeTakeFirstOrThrow()).now);
    this.heartbeat = every(this.clock, this.timings.heartbeatMs, () => {
      void this.beat().then(
        () => {
          if (!this.failing) return;
          this.failing = false;
          this.logger.info('cluster heartbeat written again');
          this.onRecovered();
        },
        (err: unknown) => {
          if (!this.failing) this.logger.warn({ err }, 'cluster heartbeat not written');
          this.failing = true;
        },
      );
    });
  }

  private async beat(): Promise<void> {
    await this.readDatabaseClock(async () => {
      const row = await this.db
        .updateTable('cluster_nodes')
        .set({ seen_at_ms: databaseNowMs(this.db) as unknown as number })
        .where('id', '=', this.nodeId)
        .returning('seen_at_ms')
        .executeTakeFirst();
      return row?.seen_at_ms;
    });
  }

  /** Runs `query`, which answers the database's time, and takes its answer as a reading of that clock (none if it answered nothing). */
  private async readDatabaseClock(query: () => Promise<number | undefined>): Promise<void> {
    const sent = this.clock.now();
    const databaseMs = await query();
    if (databaseMs !== undefined) this.databaseClock.read(Number(databaseMs), sent, this.clock.now());
  }

  async list(): Promise<ClusterNodeInfo[]> {
    const rows = await this.db.selectFrom('cluster_nodes').select(['id', 'started_at', sql<number>`${databaseNowMs(this.db)} - seen_at_ms`.as('silent')]).orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, startedAt: r.started_at, silentMs: Number(r.silent), alive: Number(r.silent) <= this.timings.deadAfterMs }));
  }

  /** Nodes that still hold online devices but wrote no heartbeat for `deadAfterMs`. */
  async deadNodesWithDevices(): Promise<string[]> {
    const alive = this.db
      .selectFrom('cluster_nodes')
      .select('id')
      .where(sql<boolean>`seen_at_ms >= ${databaseNowMs(this.db)} - ${this.timings.deadAfterMs}`);
    const rows = await this.db.selectFrom('devices').select('node_id').distinct().where('online', '=', 1).where('node_id', 'is not', null).where('node_id', 'not in', alive).execute();
    return rows.map((r) => r.node_id as string);
  }

  /** Leaving on purpose: the others stop counting this node at once. */
  async leave(): Promise<void> {
    this.heartbeat?.stop();
    this.heartbeat = null;
    await this.db.updateTable('cluster_nodes').set({ seen_at_ms: 0 }).where('id', '=', this.nodeId).execute();
  }
}
