/**
 * A connection through Redis Sentinel (LOALANG_REDIS_URL=redis-sentinel://…) against a real
 * primary and sentinel. ioredis ends such a connection for good when its failover detector hears
 * `+switch-master` while a reconnection is still asking the sentinels where the primary is (the
 * detector calls the connector's disconnect, the attempt throws "Connection is closed." and the
 * client ends). In a real failover that timing is rare (one Sentinel run of tests/cluster.test.ts
 * in eight on a loaded machine); here the detector's own call is made at that moment on purpose.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisSkipReason, startRedis, until, type RedisServer } from '@loalang/test-kit';
import { connectRedis } from '../src/cluster/redis-connection.js';

const skip = redisSkipReason();

/** What ioredis' FailoverDetector does on `+switch-master` (its connector is not public). */
function detectorDisconnect(conn: Redis): void {
  (conn as unknown as { connector: { disconnect(): void } }).connector.disconnect();
}

/** Drops the connection as a dying primary would, then makes the detector's call while the reconnection asks the sentinel. */
async function failoverMidReconnection(conn: Redis): Promise<void> {
  const asking = new Promise<void>((resolve) => conn.once('connecting', () => resolve()));
  (conn as unknown as { stream: { destroy(): void } }).stream.destroy();
  await asking;
  detectorDisconnect(conn);
}

describe.skipIf(skip !== null)('a connection through Redis Sentinel', () => {
  let primary: RedisServer;
  let sentinel: RedisServer;
  let url: string;
  beforeAll(async () => {
    primary = await startRedis();
    sentinel = await startRedis({ sentinelOf: primary.port });
    url = `redis-sentinel://127.0.0.1:${sentinel.port}/loalang`;
  });
  afterAll(async () => {
    await sentinel?.stop();
    await primary?.stop();
  });

  it('ioredis alone stays ended when the failover detector fires during a reconnection (why ours exists)', async () => {
    const plain = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'loalang', failoverDetector: true });
    plain.on('error', () => undefined);
    try {
      await until('connected', () => plain.status === 'ready');
      await failoverMidReconnection(plain);
      await until('ended', () => plain.status === 'end');
      await new Promise((r) => setTimeout(r, 1000));
      expect(plain.status).toBe('end');
    } finally {
      plain.disconnect();
    }
  });

  it('connects again by itself, subscriptions included, and stays closed once its owner quits it', async () => {
    const sub = connectRedis(url, {});
    const pub = connectRedis(url, { enableOfflineQueue: false });
    for (const c of [sub, pub]) c.on('error', () => undefined);
    const heard: string[] = [];
    sub.on('message', (_channel: string, message: string) => heard.push(message));
    await until('connected', () => sub.status === 'ready' && pub.status === 'ready');
    await sub.subscribe('loa');

    for (const conn of [sub, pub]) {
      const ended = new Promise<void>((resolve) => conn.once('end', () => resolve()));
      await failoverMidReconnection(conn);
      await ended; // what ioredis does: the connection ends
    }
    let n = 0;
    await until('a message through the connections brought back', async () => {
      if (pub.status === 'ready') await pub.publish('loa', `tin-${++n}`);
      return heard.length > 0;
    }, 10_000);
    expect(heard[0]).toMatch(/^tin-/);

    await Promise.all([sub.quit(), pub.quit()]);
    await new Promise((r) => setTimeout(r, 600));
    expect([sub.status, pub.status]).toEqual(['end', 'end']);
  });
});
