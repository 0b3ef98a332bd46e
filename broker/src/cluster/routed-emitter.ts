/**
 * The message bus under Aedes on a node of a cluster (issue 17, decision 0024): mqemitter-redis
 * carries what another node may have to deliver, a local mqemitter what only this node needs.
 *
 * - A device's uplinks (`dev/<id>/report`, `…/telemetry`…) are consumed by the node the device
 *   is connected to (MqttServer's `published` hook): they never cross Redis.
 * - A downlink for a device connected to this node is delivered here, without a round trip
 *   through Redis; so a node keeps serving its own speakers while Redis is away.
 * - Everything else (a downlink for a device elsewhere, an area's alert fan-out, Aedes' own
 *   `$SYS` messages that close a client id that connected to another node) goes through Redis,
 *   published once and delivered by each node to its own subscribers. While Redis is not
 *   connected, area messages are delivered here only (the others catch up through the alert
 *   service's retries and replays) and the loss is counted.
 *
 * A device's subscriptions to its own topics (`dev/<id>/#`) are registered on this node only.
 * The node takes every device downlink that comes through Redis with one pattern and hands it to
 * its local emitter, where only a device connected here has a listener. Redis matches every
 * publish against every pattern subscribed: one pattern per device (mqemitter-redis' way, a
 * PSUBSCRIBE each) put 10,000 patterns on a node's connection and made every publish, connect
 * and subscribe of a reconnect storm cost Redis that many matches. Other subscriptions (areas'
 * alerts, Aedes' `$SYS`) are registered on both emitters. Each message is emitted on exactly one
 * of them, or relayed from Redis to the local one, so a subscriber gets it once.
 */
import mqemitter from 'mqemitter';
import MQEmitterRedis from 'mqemitter-redis';
import type { Redis } from 'ioredis';
import { connectRedis } from './redis-connection.js';
import { NAMESPACE, UPLINK, type Logger } from '@loalang/protocol';

type Message = mqemitter.Message;
type Listener = (message: Message, done: () => void) => void;

const UPLINK_KINDS: ReadonlySet<string> = new Set(UPLINK);
const DEVICE_PREFIX = `${NAMESPACE}/dev/`;

export interface RoutedEmitterStats {
  /** Messages delivered on this node only. */
  local: number;
  /** Messages published through Redis. */
  viaRedis: number;
  /** Messages for other nodes that could not go (Redis not connected): delivered here only. */
  notShared: number;
  /** Device downlinks published on another node, handed to this node's subscribers. */
  relayed: number;
}

export class RoutedEmitter {
  private readonly local: mqemitter.MQEmitter;
  private readonly remote: MQEmitterRedis.MQEmitterRedis;
  private readonly counters: RoutedEmitterStats = { local: 0, viaRedis: 0, notShared: 0, relayed: 0 };
  private readonly pubConn: Redis;
  private readonly subConn: Redis;

  constructor(
    redisUrl: string,
    /** Whether a device is connected to this node right now. */
    private readonly isLocalDevice: (deviceId: string) => boolean,
    private readonly logger: Logger,
  ) {
    // Concurrency 0 on both, for the reason MqttServer gives for Aedes' own emitter.
    this.local = mqemitter({ concurrency: 0, matchEmptyLevels: true });
    const Remote = MQEmitterRedis as unknown as new (options: object) => MQEmitterRedis.MQEmitterRedis;
    // The publishing connection does not queue commands while Redis is away: emit() falls back at once.
    this.pubConn = connectRedis(redisUrl, { enableOfflineQueue: false });
    this.subConn = connectRedis(redisUrl, {});
    this.remote = new Remote({ pubConn: this.pubConn, subConn: this.subConn, concurrency: 0, matchEmptyLevels: true });
    const state = (this.remote as unknown as { state: NodeJS.EventEmitter }).state;
    state.on('error', (err: Error) => logger.warn({ err: err.message }, 'Redis (MQTT bus) error'));
    // Every device's downlinks published on another node, to this node's own subscribers (if any).
    this.remote.on(`${DEVICE_PREFIX}#`, (message, done) => {
      this.counters.relayed++;
      this.local.emit(message, () => done());
    });
  }

  get current(): number {
    return this.local.current + this.remote.current;
  }

  get concurrent(): number {
    return this.local.concurrent;
  }

  /** Whether the Redis connection that publishes is up. */
  redisReady(): boolean {
    return this.pubConn.status === 'ready';
  }

  private subscriberReady(): boolean {
    return this.subConn.status === 'ready';
  }

  /**
   * Subscribes here and through Redis. While Redis is away, the subscription is complete once it
   * holds here (Redis takes it when it is back): a device connecting meanwhile gets its SUBACK,
   * and one leaving is let go, instead of waiting for Redis.
   */
  on(topic: string, listener: Listener, done?: () => void): this {
    if (topic.startsWith(DEVICE_PREFIX)) {
      this.local.on(topic, listener, done);
      return this;
    }
    if (!this.subscriberReady()) {
      this.remote.on(topic, listener);
      this.local.on(topic, listener, done);
      return this;
    }
    let pending = 2;
    const one = () => {
      if (--pending === 0) done?.();
    };
    this.local.on(topic, listener, one);
    this.remote.on(topic, listener, one);
    return this;
  }

  removeListener(topic: string, listener: Listener, done?: () => void): void {
    if (topic.startsWith(DEVICE_PREFIX)) {
      this.local.removeListener(topic, listener, done);
      return;
    }
    if (!this.subscriberReady()) {
      this.remote.removeListener(topic, listener);
      this.local.removeListener(topic, listener, done);
      return;
    }
    let pending = 2;
    const one = () => {
      if (--pending === 0) done?.();
    };
    this.local.removeListener(topic, listener, one);
    this.remote.removeListener(topic, listener, one);
  }

  emit(message: Message, done?: (error?: Error) => void): void {
    if (this.staysHere(message.topic)) {
      this.counters.local++;
      this.local.emit(message, done);
      return;
    }
    if (!this.redisReady()) {
      this.counters.notShared++;
      // Aedes' own $SYS messages (its birth, at start, before Redis has answered) matter less.
      this.logger[message.topic.startsWith('$SYS/') ? 'debug' : 'warn']({ topic: message.topic }, 'Redis is not connected: message delivered on this node only');
      this.local.emit(message, done);
      return;
    }
    this.counters.viaRedis++;
    this.remote.emit(message, (err) => {
      if (!err) return done?.();
      // Lost on the way to Redis: deliver here at least; the alert service retries the others.
      this.counters.notShared++;
      this.logger.warn({ err: err.message, topic: message.topic }, 'message not published through Redis: delivered on this node only');
      this.local.emit(message, done);
    });
  }

  private staysHere(topic: string): boolean {
    if (!topic.startsWith(DEVICE_PREFIX)) return false;
    const rest = topic.slice(DEVICE_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return false;
    return UPLINK_KINDS.has(rest.slice(slash + 1)) || this.isLocalDevice(rest.slice(0, slash));
  }

  stats(): RoutedEmitterStats {
    return { ...this.counters };
  }

  close(callback: () => void): void {
    // Not mqemitter-redis' own close, which quits both connections without handling a failed
    // QUIT (a connection already gone), an unhandled rejection that would end the process.
    this.local.close(() => {
      for (const conn of [this.pubConn, this.subConn]) conn.quit().catch(() => conn.disconnect());
      callback();
    });
  }
}
