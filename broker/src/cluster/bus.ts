/**
 * What the nodes of a cluster tell each other (issue 17, decision 0024), over Redis pub/sub:
 * presence changes, devices to cut off, and the events of the console's live views (devices,
 * commands, alarms, alerts and their deliveries, rollouts). Fire and forget: nothing here is the record
 * (that is the database); a message lost while Redis is away means a live view a little behind,
 * and presence is read again from the database when Redis is back.
 *
 * Messages published in one turn of the event loop travel together, in one sealed batch (at
 * most MAX_BATCH): 20,000 speakers' receipts of an alert were 20,000 Redis publishes, seals and
 * parses on every node, in the minutes when the nodes' cores are needed for the fan-out.
 *
 * Every batch is sealed with an HMAC under a key derived from the cluster's shared secret:
 * a node with another secret (or a stranger on the Redis server) is not listened to, and is
 * counted and logged.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { connectRedis } from './redis-connection.js';
import type { LiveStatus, Logger } from '@loalang/protocol';
import type { AlarmChange } from '../alarms/alarms.js';
import type { Alert } from '../alerts/alerts.js';
import type { DeliveryEvent } from '../alerts/service.js';

export type BusMessage =
  | { t: 'presence'; deviceId: string; online: boolean }
  | { t: 'node-lost'; node: string }
  | { t: 'disconnect'; deviceId: string }
  | { t: 'device'; deviceId: string }
  | { t: 'command'; deviceId: string; commandId: string }
  | { t: 'alarm'; change: AlarmChange }
  | { t: 'alert'; alert: Alert }
  | { t: 'delivery'; event: DeliveryEvent }
  /** A rollout or a device's state in it changed (issue 20). */
  | { t: 'rollout'; rolloutId: string }
  /** A speaker's state in a live announcement, for the node that runs it (issue 18). */
  | { t: 'live-status'; deviceId: string; status: LiveStatus }
  /** End this live announcement, if it runs on you. */
  | { t: 'live-end'; sessionId: string };

export interface BusStats {
  sent: number;
  received: number;
  /** Messages whose seal did not verify (another secret, or not from a node). */
  refused: number;
  /** Messages not sent because Redis was not connected. */
  unsent: number;
}

const CHANNEL = 'loalang:cluster';
/** The most messages sealed and published together. */
export const MAX_BATCH = 500;

/** A key for one purpose, derived from the cluster's shared secret. */
export function clusterKey(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'loalang-cluster', purpose, 32));
}

type BusEvents = { message: [BusMessage, string]; reconnected: [] };

export class ClusterBus extends EventEmitter<BusEvents> {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly key: Buffer;
  private readonly counters: BusStats = { sent: 0, received: 0, refused: 0, unsent: 0 };
  private lastRefusalLog = 0;
  private everReady = false;
  private queued: BusMessage[] = [];
  private flushPending = false;

  constructor(
    redisUrl: string,
    secret: string,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.key = clusterKey(secret, 'bus');
    this.pub = connectRedis(redisUrl, { enableOfflineQueue: false, lazyConnect: true });
    this.sub = connectRedis(redisUrl, { lazyConnect: true });
    for (const conn of [this.pub, this.sub]) conn.on('error', (err: Error) => logger.debug({ err: err.message }, 'Redis (cluster bus) error'));
    this.sub.on('messageBuffer', (_channel: Buffer, raw: Buffer) => this.receive(raw));
    this.sub.on('ready', () => {
      if (this.everReady) {
        logger.info('Redis (cluster bus) connected again');
        this.emit('reconnected');
      }
      this.everReady = true;
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pub.connect(), this.sub.connect()]);
    await this.sub.subscribe(CHANNEL);
  }

  /** Queues the message; the turn's messages go out together (see the file's comment). */
  publish(message: BusMessage): void {
    if (this.pub.status !== 'ready') {
      this.counters.unsent++;
      return;
    }
    this.queued.push(message);
    if (this.queued.length >= MAX_BATCH) this.flush();
    else if (!this.flushPending) {
      this.flushPending = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushPending = false;
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    if (this.pub.status !== 'ready') {
      this.counters.unsent += batch.length;
      return;
    }
    const body = Buffer.from(JSON.stringify({ node: this.nodeId, ms: batch }));
    const mac = createHmac('sha256', this.key).update(body).digest();
    this.counters.sent += batch.length;
    this.pub.publish(CHANNEL, Buffer.concat([mac, body])).catch(() => (this.counters.unsent += batch.length));
  }

  private receive(raw: Buffer): void {
    const mac = raw.subarray(0, 32);
    const body = raw.subarray(32);
    const expected = createHmac('sha256', this.key).update(body).digest();
    if (mac.length !== 32 || !timingSafeEqual(mac, expected)) {
      this.counters.refused++;
      const now = Date.now();
      if (now - this.lastRefusalLog > 60_000) {
        this.lastRefusalLog = now;
        this.logger.error({ refused: this.counters.refused }, 'cluster message with a wrong seal ignored: a node runs with another LOALANG_CLUSTER_SECRET, or something else publishes on the cluster channel');
      }
      return;
    }
    let envelope: { node: string; ms: BusMessage[] };
    try {
      envelope = JSON.parse(body.toString('utf8')) as { node: string; ms: BusMessage[] };
      if (typeof envelope.node !== 'string' || !Array.isArray(envelope.ms)) throw new Error('not a batch');
    } catch {
      this.counters.refused++;
      return;
    }
    if (envelope.node === this.nodeId) return;
    for (const m of envelope.ms) {
      this.counters.received++;
      this.emit('message', m, envelope.node);
    }
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  async stop(): Promise<void> {
    this.flush();
    await Promise.all([this.pub.quit().catch(() => undefined), this.sub.quit().catch(() => undefined)]);
  }
}
