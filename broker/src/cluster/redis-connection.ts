/**
 * The Redis a cluster shares, named by LOALANG_REDIS_URL (issue 17): one server
 * (`redis://[:password@]host:port[/db]`, `rediss://` with TLS), or a primary found through Redis
 * Sentinel (`redis-sentinel://[:password@]host:port[,host:port…]/<primary name>`). With Sentinel,
 * ioredis asks the sentinels where the primary is and asks again when it loses it, so when
 * Sentinel promotes a replica the nodes follow by themselves; nothing here elects anything.
 */
import { Redis, type Callback, type RedisOptions } from 'ioredis';

export interface SentinelTarget {
  sentinels: { host: string; port: number }[];
  /** The primary's name, as the sentinels monitor it (`sentinel monitor <name> …`). */
  name: string;
  /** The password of the primary and its replicas (the sentinels' own too, if they have one). */
  password?: string;
}

const SENTINEL_URL = /^redis-sentinel:\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/@]+)\/([A-Za-z0-9_.-]+)\/?$/;

/** A `redis-sentinel://` URL's parts; null when `url` is not one; throws when it is one but malformed. */
export function sentinelTarget(url: string): SentinelTarget | null {
  if (!url.startsWith('redis-sentinel://')) return null;
  const m = SENTINEL_URL.exec(url);
  if (!m) throw new Error('expected redis-sentinel://[:password@]host:port[,host:port…]/<primary name>');
  const sentinels = m[2]!.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':');
    const host = at > 0 ? hostPort.slice(0, at) : hostPort;
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : 26379;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad sentinel address ${hostPort}`);
    return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
  });
  const password = m[1] ? decodeURIComponent(m[1]) : undefined;
  return { sentinels, name: m[3]!, ...(password ? { password } : {}) };
}

/** Whether `url` names a Redis this server can use; the reason when it cannot. */
export function redisUrlProblem(url: string): string | null {
  try {
    if (sentinelTarget(url)) return null;
  } catch (err) {
    return (err as Error).message;
  }
  return /^rediss?:\/\/./.test(url) ? null : 'expected redis://, rediss:// or redis-sentinel://';
}

/** How long a Sentinel connection that ended by itself waits before it connects again. */
const REVIVE_AFTER_MS = 200;

/**
 * A connection through Sentinel that does not stay ended unless its owner closed it. ioredis
 * (5.11, and 6.0 alike) ends such a connection for good when its failover detector hears
 * `+switch-master` while a reconnection is still asking the sentinels where the primary is: the
 * detector's disconnect makes that attempt throw "Connection is closed.", and a failed connect
 * ends the client. A node was then left publishing nowhere after a failover (the Sentinel case of
 * tests/cluster.test.ts, one run in eight on a loaded machine).
 */
class SentinelRedis extends Redis {
  private closedByOwner = false;

  constructor(options: RedisOptions) {
    super(options);
    this.on('end', () => {
      if (this.closedByOwner) return;
      setTimeout(() => {
        if (!this.closedByOwner && this.status === 'end') this.connect().catch(() => undefined);
      }, REVIVE_AFTER_MS).unref();
    });
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.closedByOwner = true;
    super.disconnect(reconnect);
  }

  override quit(callback?: Callback<'OK'>): Promise<'OK'> {
    this.closedByOwner = true;
    return super.quit(callback);
  }
}

/** A connection to the Redis `url` names (see the file's comment), with ioredis `options`. */
export function connectRedis(url: string, options: RedisOptions): Redis {
  const target = sentinelTarget(url);
  if (!target) return new Redis(url, options);
  return new SentinelRedis({
    ...options,
    sentinels: target.sentinels,
    name: target.name,
    ...(target.password ? { password: target.password, sentinelPassword: target.password } : {}),
    // Told by the sentinels when the primary changes, not only when the connection drops.
    failoverDetector: true,
  });
}
