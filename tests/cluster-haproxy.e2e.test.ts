/**
 * Issue 17, the load-balancer way: Debian's haproxy runs the configuration shipped in
 * deploy/haproxy.cfg (only its addresses and ports replaced) in front of two `loalang server`
 * nodes. The speakers know one name, the balancer's: the agent configuration the server hands
 * out names it. When a node is killed, the balancer takes it out on its failed health checks and
 * its speakers reconnect through the balancer to the other node; an alert issued through the
 * balancer then plays on every speaker once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '@loalang/test-kit';
import { api, until } from './support.js';
import { clusterSkipReason, freePort, TestCluster } from './cluster-support.js';

const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
const skip = clusterSkipReason() ?? (HAPROXY ? null : 'haproxy is not installed (Debian package haproxy)');
if (skip) console.warn(`HAProxy cluster test skipped: ${skip}`);

const SHIPPED = fileURLToPath(new URL('../deploy/haproxy.cfg', import.meta.url));
const SPEAKERS = 4;

let redis: RedisServer;
let cluster: TestCluster | null = null;
let haproxy: ChildProcess | null = null;

beforeAll(async () => {
  if (!skip) redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

afterEach(async () => {
  if (haproxy && haproxy.exitCode === null) {
    const exited = new Promise((r) => haproxy!.once('exit', r));
    haproxy.kill('SIGTERM');
    await exited;
  }
  haproxy = null;
  await cluster?.stop();
  cluster = null;
});

/** The shipped configuration with the test's addresses: its own bind ports, and one server line per node. */
function localConfig(shipped: string, lb: { mqtt: number; http: number }, nodes: { mqttPort: number; httpPort: number }[]): string {
  const out: string[] = [];
  for (const line of shipped.split('\n')) {
    // This machine's file-descriptor limit is lower than a production balancer's.
    if (/^\s+maxconn \d+\s*$/.test(line)) out.push('    maxconn 4096');
    else if (/^\s+bind :1883\s*$/.test(line)) out.push(`    bind 127.0.0.1:${lb.mqtt}`);
    else if (/^\s+bind :8080\s*$/.test(line)) out.push(`    bind 127.0.0.1:${lb.http}`);
    else if (/^\s+server node-1 \S+:1883 check port 8080\s*$/.test(line)) nodes.forEach((n, i) => out.push(`    server node-${i + 1} 127.0.0.1:${n.mqttPort} check port ${n.httpPort}`));
    else if (/^\s+server node-1 \S+:8080 check\s*$/.test(line)) nodes.forEach((n, i) => out.push(`    server node-${i + 1} 127.0.0.1:${n.httpPort} check`));
    else if (/^\s+server node-\d+ /.test(line)) continue;
    else out.push(line);
  }
  return out.join('\n');
}

describe.skipIf(skip !== null)('two nodes behind the shipped HAProxy configuration', () => {
  it('moves the speakers of a killed node to the other through the balancer, and an alert still plays on each once', { timeout: 150_000 }, async () => {
    const lb = { mqtt: await freePort(), http: await freePort() };
    const lbHttp = `http://127.0.0.1:${lb.http}`;
    const lbMqtt = `mqtt://127.0.0.1:${lb.mqtt}`;
    const c = (cluster = await TestCluster.start(redis, 2, () => ({ LOALANG_PUBLIC_HTTP_URL: lbHttp, LOALANG_PUBLIC_MQTT_URL: lbMqtt })));
    const config = localConfig(readFileSync(SHIPPED, 'utf8'), lb, c.nodes);
    expect(config.match(/^\s+server /gm)).toHaveLength(4); // two nodes in each backend, nothing of the example left
    const file = join(c.dir, 'haproxy.cfg');
    writeFileSync(file, config);
    let log = '';
    haproxy = spawn(HAPROXY!, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    haproxy.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    await until('the balancer answering', 15_000, async () => (await fetch(`${lbHttp}/healthz`).catch(() => null))?.ok ?? false).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; haproxy said: ${log}`);
    });

    const communeId = await c.addArea(lbHttp, 'Xã Hải An');
    for (let i = 0; i < SPEAKERS; i++) {
      // The agent configuration the server hands out names the balancer: nothing to add.
      await c.addSpeaker(lbHttp, `Loa ${i + 1}`, communeId, (given) => {
        expect(given).toMatchObject({ mqttUrl: lbMqtt, httpUrl: lbHttp });
        return {};
      });
    }
    await c.waitAllOnline(lbHttp);
    const where = await c.holders();
    const count = (name: string) => [...where.values()].filter((n) => n === name).length;
    expect(count('node-1') + count('node-2')).toBe(SPEAKERS);
    const victim = count('node-1') >= count('node-2') ? c.nodes[0]! : c.nodes[1]!;
    expect(count(victim.name)).toBeGreaterThan(0);

    victim.proc.child.kill('SIGKILL');
    const after = await until('every speaker back, through the balancer', 45_000, async () => {
      const h = await c.holders();
      return h.size === SPEAKERS && [...h.values()].every((n) => n !== victim.name) ? h : null;
    });
    expect(after.size).toBe(SPEAKERS);
    await c.waitAllOnline(lbHttp);

    const contentId = await c.uploadTone(lbHttp, 1);
    const alert = await api<{ id: string }>(lbHttp, '/api/v1/alerts', { token: c.token, json: { title: 'Lũ quét', contentId, priority: 'emergency', targets: { areaIds: [communeId], deviceIds: [] } } });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    await until('every speaker finished the alert', 30_000, async () => {
      const v = (await api<{ deliveries: { state: string }[] }>(lbHttp, `/api/v1/alerts/${alert.body.id}`, { token: c.token })).body;
      return v.deliveries.length === SPEAKERS && v.deliveries.every((d) => d.state === 'finished');
    });
    for (const s of c.speakers) expect(s.sink.starts, `speaker ${s.id}`).toHaveLength(1);
    expect(log).not.toMatch(/\[ALERT\]/);
  });
});
