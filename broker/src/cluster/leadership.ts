/**
 * Which node does the work that must happen once (issue 17, decision 0024): the periodic
 * programme dispatch, alarm sweeps, retention, alert expiry, and sweeping the devices of nodes
 * that died. A single server always leads. In a cluster the leader is the node holding a
 * PostgreSQL session-level advisory lock on its own connection: PostgreSQL lets one session hold
 * it, and frees it when that session ends, so a node that dies (or loses the database) stops
 * leading and another takes the lock within one poll.
 *
 * The leader checks its connection every poll; when the check fails it steps down at once,
 * before PostgreSQL could have given the lock to anyone else (the lock lives as long as the
 * session, and a session whose connection failed is gone). What a leader does is safe to do
 * twice anyway: programme versions, alert ends and alarm changes are conditional writes.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Clock, ClockTimer, Logger } from '@loalang/protocol';

type LeadershipEvents = { acquired: []; lost: [] };

export interface Leadership extends EventEmitter<LeadershipEvents> {
  isLeader(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A single server: it leads from start to stop. */
export class SoleLeadership extends EventEmitter<LeadershipEvents> implements Leadership {
  private leading = false;

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    this.leading = true;
    this.emit('acquired');
  }

  async stop(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.emit('lost');
  }
}

/** The advisory lock's key: "loalang leader" in ASCII, fixed so every version agrees. */
export const LEADER_LOCK_KEY = 0x6c6f616c616e67n;

export class AdvisoryLockLeadership extends EventEmitter<LeadershipEvents> implements Leadership {
  private client: pg.Client | null = null;
  private leading = false;
  private timer: ClockTimer | null = null;
  private stopped = true;
  private lastError = '';

  constructor(
    private readonly databaseUrl: string,
    private readonly nodeId: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly pollMs = 1000,
  ) {
    super();
  }

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.poll();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.poll(), this.pollMs);
  }

  private async poll(): Promise<void> {
    this.timer = null;
    try {
      const client = this.client ?? (await this.connect());
      if (this.leading) {
        await client.query('SELECT 1');
      } else {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [LEADER_LOCK_KEY.toString()]);
        if (rows[0]?.ok && !this.stopped) {
          this.leading = true;
          this.logger.info({ node: this.nodeId }, 'this node leads the cluster');
          this.emit('acquired');
        }
      }
      this.lastError = '';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.lastError) this.logger.warn({ err: message }, 'leader lock connection failed');
      this.lastError = message;
      this.dropClient();
      this.stepDown('the database connection holding the lock failed');
    }
    this.schedule();
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, application_name: `loalang-leader-${this.nodeId}`, connectionTimeoutMillis: 5000, query_timeout: 5000 });
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'leader lock connection lost');
      this.dropClient();
      this.stepDown('the database connection holding the lock was lost');
    });
    await client.connect();
    // If this node vanishes without closing the connection (power cut, a cable pulled), PostgreSQL
    // frees the lock when it notices the session is dead: ask it to notice within ~25 s, not the
    // system's two hours. (Refused on a Unix socket, where it does not matter.)
    await client.query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3').catch(() => undefined);
    this.client = client;
    return client;
  }

  private dropClient(): void {
    const client = this.client;
    this.client = null;
    client?.end().catch(() => undefined);
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.logger.warn({ node: this.nodeId, why }, 'this node no longer leads the cluster');
    this.emit('lost');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client && this.leading) await client.query('SELECT pg_advisory_unlock($1::bigint)', [LEADER_LOCK_KEY.toString()]).catch(() => undefined);
    await client?.end().catch(() => undefined);
    this.stepDown('stopping');
  }
}
