/**
 * Issue 17: a box that knows several server nodes. Boxes spread over the nodes by device id; a
 * box whose node goes away reconnects to another (real Aedes brokers on TCP, real mqtt.js); a
 * download its node does not answer is fetched from another node and still checked by SHA-256.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer as createTcpServer, type Server, type AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { silentLogger } from '@loalang/protocol';
import { until } from '@loalang/test-kit';
import { MqttSession, serverRotation } from '../src/link/mqtt-session.js';
import { ContentCache } from '../src/storage/content-cache.js';
import { AgentStore } from '../src/storage/store.js';
import { guardFor } from './fake-mqtt.js';
import { testSigner } from './peers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(): Promise<{ port: number; close: () => Promise<void>; connects: string[] }> {
  const aedes = await Aedes.createBroker();
  const connects: string[] = [];
  aedes.on('client', (c) => connects.push(c.id));
  const server: Server = createTcpServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  };
  cleanups.push(close);
  return { port: (server.address() as AddressInfo).port, close, connects };
}

describe('several server endpoints', () => {
  it('spreads boxes over the endpoints by device id, each trying all of them in turn', () => {
    const urls = ['mqtt://a:1883', 'mqtt://b:1883', 'mqtts://c:8883'];
    const firsts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const order = serverRotation(urls[0]!, urls.slice(1), `device-${i}`)!;
      expect(order.map((s) => s.host).sort()).toEqual(['a', 'b', 'c']);
      firsts.set(order[0]!.host, (firsts.get(order[0]!.host) ?? 0) + 1);
    }
    for (const host of ['a', 'b', 'c']) expect(firsts.get(host)).toBeGreaterThan(60);
    expect(serverRotation('mqtts://c:8883', [], 'd')).toBeUndefined();
    expect(serverRotation('mqtt://a', ['mqtt://a'], 'd')).toBeUndefined();
    expect(serverRotation('mqtts://c', ['mqtt://a'], 'd')!.find((s) => s.host === 'c')).toEqual({ host: 'c', port: 8883, protocol: 'mqtts' });
  });

  it('reconnects to another node when its node goes away', async () => {
    const one = await broker();
    const two = await broker();
    const session = new MqttSession({
      url: `mqtt://127.0.0.1:${one.port}`,
      failoverUrls: [`mqtt://127.0.0.1:${two.port}`],
      deviceId: 'box-1',
      password: 'pw',
      logger: silentLogger,
      guard: guardFor(testSigner(), () => Date.now()),
      minBackoffMs: 50,
      maxBackoffMs: 200,
    });
    cleanups.push(() => session.stop());
    let connected = 0;
    session.on('connected', () => connected++);
    session.start();
    await until('the first connection', () => connected === 1);
    const [first, second] = one.connects.length === 1 ? [one, two] : [two, one];
    expect(first.connects).toEqual(['box-1']);
    await first.close();
    await until('the connection to the other node', () => connected === 2, 5000);
    expect(second.connects).toEqual(['box-1']);
  });

  it('downloads from another node when its own does not answer, and still checks the audio', async () => {
    const audio = Buffer.from('pretend this is Opus audio');
    const sha256 = createHash('sha256').update(audio).digest('hex');
    const served: string[] = [];
    const serve = (status: number): Promise<{ origin: string; server: HttpServer }> =>
      new Promise((resolve) => {
        const server = createHttpServer((req, res) => {
          served.push(`${status}:${req.url}`);
          res.writeHead(status).end(status === 200 ? audio : 'node down');
        });
        server.listen(0, '127.0.0.1', () => resolve({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }));
        cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
      });
    const down = await serve(503);
    const up = await serve(200);
    const dir = mkdtempSync(join(tmpdir(), 'loalang-failover-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = AgentStore.open(dir);
    cleanups.push(() => store.close());
    // A node nobody listens on comes first: a network error, then a 503, then the node that answers.
    const gone = 'http://127.0.0.1:9';
    const cache = new ContentCache({ dir: join(dir, 'content'), store, auth: { username: 'box-1', password: 'pw' }, maxBytes: 10_000_000, logger: silentLogger, now: () => Date.now(), mirrors: [gone, down.origin, up.origin] });
    await cache.ensure({ contentId: 'c1', sha256, url: `${gone}/api/v1/content/c1/file` });
    expect(readFileSync(cache.pathFor('c1', sha256)!)).toEqual(audio);
    expect(served).toEqual(['503:/api/v1/content/c1/file', '200:/api/v1/content/c1/file']);
  });
});
