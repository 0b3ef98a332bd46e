/**
 * This server as a node (issue 17, decision 0024): alone (the default: it always leads, nothing
 * is shared) or one of several sharing PostgreSQL and Redis. Holds what a node needs to work
 * with the others: the leader lock, the heartbeat and secret check, the cluster bus, the
 * presence of devices on other nodes and the MQTT emitter shared through Redis.
 */
import type { Clock, Logger } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { brokerError } from '../errors.js';
import { ClusterBus, clusterKey, type BusStats } from './bus.js';
import { AdvisoryLockLeadership, SoleLeadership, type Leadership } from './leadership.js';
import { DEFAULT_NODE_TIMINGS, NodeRegistry, type NodeTimings } from './nodes.js';
import { RemotePresence } from './remote-presence.js';
import { RoutedEmitter, type RoutedEmitterStats } from './routed-emitter.js';
import { redisUrlProblem } from './redis-connection.js';

export interface ClusterOptions {
  /** `redis://…`, `rediss://…` or `redis-sentinel://…` (LOALANG_REDIS_URL, redis-connection.ts). */
  redisUrl: string;
  /** Shared by every node (LOALANG_CLUSTER_SECRET); at least 16 characters. */
  secret: string;
  /** This node's name (LOALANG_NODE_ID), unique in the cluster. */
  nodeId: string;
  timings?: Partial<NodeTimings>;
  /** How often a node tries the leader lock, and the leader checks it still holds it. */
  leaderPollMs?: number;
}

export const MIN_CLUSTER_SECRET_CHARS = 16;

/** A node's name (LOALANG_NODE_ID): 1 to 64 letters, digits, dots, dashes or underscores. */
export function isValidNodeId(id: string): boolean {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(id);
}

export interface ClusterStats {
  nodeId: string;
  clustered: boolean;
  leader: boolean;
  /** Devices connected to the other nodes, as this node knows them. */
  devicesElsewhere: number;
  bus: BusStats | null;
  mqtt: RoutedEmitterStats | null;
}

export class ClusterNode {
  readonly remote = new RemotePresence();
  private emitter: RoutedEmitter | null = null;

  private constructor(
    readonly nodeId: string,
    readonly leadership: Leadership,
    readonly bus: ClusterBus | null,
    readonly registry: NodeRegistry | null,
    private readonly options: ClusterOptions | null,
    private readonly logger: Logger,
  ) {}

  /** A single server: it leads, and shares nothing. */
  static alone(nodeId: string, logger: Logger): ClusterNode {
    return new ClusterNode(nodeId, new SoleLeadership(), null, null, null, logger);
  }

  /** Throws LOA_ERR_CLUSTER_CONFIG when these settings cannot make a node (checked before anything opens). */
  static check(options: ClusterOptions, databaseUrl: string | undefined): asserts databaseUrl is string {
    if (!databaseUrl) throw brokerError('LOA_ERR_CLUSTER_CONFIG', { en: 'LOALANG_REDIS_URL needs a shared PostgreSQL in LOALANG_DATABASE_URL: nodes cannot share a SQLite file', vi: 'LOALANG_REDIS_URL cần PostgreSQL dùng chung trong LOALANG_DATABASE_URL: các nút không thể dùng chung tệp SQLite' });
    if (options.secret.length < MIN_CLUSTER_SECRET_CHARS) {
      throw brokerError('LOA_ERR_CLUSTER_CONFIG', { en: `LOALANG_CLUSTER_SECRET must be at least ${MIN_CLUSTER_SECRET_CHARS} characters, the same on every node`, vi: `LOALANG_CLUSTER_SECRET phải có ít nhất ${MIN_CLUSTER_SECRET_CHARS} ký tự, giống nhau trên mọi nút` });
    }
    const redisProblem = redisUrlProblem(options.redisUrl);
    if (redisProblem) throw brokerError('LOA_ERR_CLUSTER_CONFIG', { en: `LOALANG_REDIS_URL: ${redisProblem}`, vi: `LOALANG_REDIS_URL không hợp lệ: ${redisProblem}` });
    if (!isValidNodeId(options.nodeId)) throw brokerError('LOA_ERR_CLUSTER_CONFIG', { en: 'LOALANG_NODE_ID: 1 to 64 letters, digits, dots, dashes or underscores', vi: 'LOALANG_NODE_ID: 1 đến 64 chữ, số, dấu chấm, gạch ngang hoặc gạch dưới' });
  }

  static clustered(options: ClusterOptions, db: Database, databaseUrl: string | undefined, clock: Clock, logger: Logger): ClusterNode {
    ClusterNode.check(options, databaseUrl);
    const timings = { ...DEFAULT_NODE_TIMINGS, ...options.timings };
    return new ClusterNode(
      options.nodeId,
      new AdvisoryLockLeadership(databaseUrl, options.nodeId, clock, logger, options.leaderPollMs),
      new ClusterBus(options.redisUrl, options.secret, options.nodeId, logger),
      new NodeRegistry(db, options.nodeId, options.secret, clock, logger, timings),
      options,
      logger,
    );
  }

  get clustered(): boolean {
    return this.options !== null;
  }

  /**
   * The clock this node keeps time by: alone, `local` itself; a node of a cluster, the database
   * server's clock as read at each heartbeat (database-clock.ts). Every node then gives its
   * speakers, its signatures and the instants nodes compare (which connection of a device is
   * newer) the same time, however far apart the machines' own clocks are. Timers still run on
   * `local`: a wait is a length of time, the same on both.
   */
  clockFrom(local: Clock): Clock {
    const registry = this.registry;
    if (!registry) return local;
    return {
      now: () => registry.databaseClock.shared(local.now()),
      setTimeout: (fn, ms) => local.setTimeout(fn, ms),
      clearTimeout: (timer) => local.clearTimeout(timer),
    };
  }

  /** The key of device-authentication MACs every node can check (null alone: the data folder's, devices/auth-key.ts). */
  deviceAuthKey(): Buffer | null {
    return this.options ? clusterKey(this.options.secret, 'device-auth') : null;
  }

  /** What the MQTT server needs to be a node of the cluster; undefined alone. */
  mqttCluster() {
    const options = this.options;
    const bus = this.bus;
    if (!options || !bus) return undefined;
    return {
      nodeId: this.nodeId,
      mq: (isHere: (deviceId: string) => boolean) => {
        this.emitter = new RoutedEmitter(options.redisUrl, isHere, this.logger);
        return this.emitter;
      },
      elsewhere: this.remote,
      disconnectElsewhere: (deviceId: string) => bus.publish({ t: 'disconnect', deviceId }),
    };
  }

  stats(): ClusterStats {
    return {
      nodeId: this.nodeId,
      clustered: this.clustered,
      leader: this.leadership.isLeader(),
      devicesElsewhere: this.remote.ids().length,
      bus: this.bus?.stats() ?? null,
      mqtt: this.emitter?.stats() ?? null,
    };
  }
}
