/**
 * Issue 17, shown with real processes: three `loalang server` nodes sharing one PostgreSQL
 * database and one Redis server (Debian's, started here), and real agents (MQTT session,
 * timeline, player, outbox, simulated amplifier board; a timed sink in place of the sound card,
 * so six of them fit one process) that know every node.
 *
 * - The node holding the most speakers is killed (SIGKILL) while an alert is being delivered:
 *   every targeted speaker still plays it once (late ones within 60 s), and the board on a
 *   surviving node shows every speaker's final state.
 * - The leader is killed in the middle of a programme: every play happens once on every speaker,
 *   and one of the survivors leads.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { freshPostgres, postgresUrl, readEvents, redisSkipReason, startRedis, type RedisServer } from '@loalang/test-kit';
import { TimedSink } from './alert-support.js';
import { api, hasTool, startCli, until, type Proc } from './support.js';

const skip = postgresUrl() === null ? 'no PostgreSQL cluster in this run' : (redisSkipReason() ?? (hasTool('ffmpeg') ? null : 'ffmpeg is not installed'));
if (skip) console.warn(`cluster end-to-end tests skipped: ${skip}`);

const PASSWORD = 'mat-khau-quan-tri-cum';
const SECRET = 'the-shared-secret-of-this-cluster-0123';
const SPEAKERS = 6;

interface Node {
  name: string;
  proc: Proc;
  base: string;
  mqttUrl: string;
  httpUrl: string;
}

let redis: RedisServer;
let dir: string;
let databaseUrl: string;
let nodes: Node[] = [];
let agents: { id: string; agent: Agent; sink: TimedSink }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function startCluster(): Promise<{ token: string; communeId: string }> {
  dir = mkdtempSync(join(tmpdir(), 'loalang-cluster-e2e-'));
  databaseUrl = await freshPostgres('cluster_e2e');
  const ports = await Promise.all([0, 1, 2].map(async () => ({ http: await freePort(), mqtt: await freePort() })));
  const publicHttp = `http://127.0.0.1:${ports[0]!.http}`;
  // One after the other: the first to start leads.
  for (const [i, p] of ports.entries()) {
    const name = `node-${i + 1}`;
    const proc = startCli(['server', '--data', dir, '--http-port', String(p.http), '--mqtt-port', String(p.mqtt), '--host', '127.0.0.1', '--plaintext'], {
      LOALANG_ADMIN_PASSWORD: PASSWORD,
      LOALANG_LOG_LEVEL: 'warn',
      LOALANG_DATABASE_URL: databaseUrl,
      LOALANG_REDIS_URL: redis.url,
      LOALANG_CLUSTER_SECRET: SECRET,
      LOALANG_NODE_ID: name,
      LOALANG_PUBLIC_HTTP_URL: publicHttp,
    });
    await proc.waitFor(/api:\s+http:\/\/\S+\/api\/v1/, 30_000);
    nodes.push({ name, proc, base: `http://127.0.0.1:${p.http}`, mqttUrl: `mqtt://127.0.0.1:${p.mqtt}`, httpUrl: `http://127.0.0.1:${p.http}` });
  }
  const token = (await api<{ token: string }>(nodes[1]!.base, '/api/v1/auth/login', { json: { username: 'admin', password: PASSWORD } })).body.token;
  const rootId = (await api<{ id: string }[]>(nodes[1]!.base, '/api/v1/areas', { token })).body[0]!.id;
  const commune = await api<{ id: string }>(nodes[2]!.base, '/api/v1/areas', { token, json: { name: 'Xã Hải An', parentId: rootId } });
  expect(commune.status).toBe(201);
  for (let i = 0; i < SPEAKERS; i++) {
    const device = await api<{ id: string; agentConfig: Record<string, unknown> }>(nodes[i % 3]!.base, '/api/v1/devices', { token, json: { name: `Loa ${i + 1}`, areaId: commune.body.id } });
    expect(device.status).toBe(201);
    // Every box knows every node; each starts on the node its id picks.
    const raw = {
      ...device.body.agentConfig,
      mqttUrl: nodes[0]!.mqttUrl,
      failoverMqttUrls: [nodes[1]!.mqttUrl, nodes[2]!.mqttUrl],
      httpUrl: nodes[0]!.httpUrl,
      failoverHttpUrls: [nodes[1]!.httpUrl, nodes[2]!.httpUrl],
      cacheDir: join(dir, 'agents', device.body.id),
      serial: { simulate: true },
      audioSink: 'null',
      warmupMs: 300,
      tailMs: 200,
    };
    const sink = new TimedSink(1000);
    const agent = await Agent.create(parseAgentConfig(raw, dir), { amplifier: createSimulatedAmplifier(), sink, exit: () => undefined, ...(process.env['CLUSTER_TEST_LOG'] ? { logger: pino({ level: 'debug' }) } : {}) });
    await agent.start();
    agents.push({ id: device.body.id, agent, sink });
  }
  await until('every speaker online', 20_000, async () => {
    const list = (await api<{ online: boolean }[]>(nodes[0]!.base, '/api/v1/devices?limit=100', { token })).body;
    return list.length === SPEAKERS && list.every((d) => d.online);
  });
  return { token, communeId: commune.body.id };
}

/** Which node each speaker is connected to, from the shared database. */
async function holders(): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; node_id: string }>('SELECT id, node_id FROM devices WHERE online = 1');
    return new Map(rows.map((r) => [r.id, r.node_id]));
  } finally {
    await client.end();
  }
}

async function uploadTone(node: Node, token: string, seconds: number): Promise<string> {
  const wav = join(dir, `tone-${seconds}.wav`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=660:duration=${seconds}`, '-ar', '16000', '-ac', '1', wav]);
  const form = new FormData();
  form.append('file', new Blob([readFileSync(wav)]), 'tone.wav');
  const res = await api<{ id: string }>(node.base, '/api/v1/content', { token, body: form });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

beforeAll(async () => {
  if (!skip) redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

afterEach(async () => {
  for (const a of agents) await a.agent.stop().catch(() => undefined);
  for (const n of nodes) await n.proc.stop();
  agents = [];
  nodes = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('a cluster of three server nodes', () => {
  it('still plays an alert on every speaker, once each, when the node holding the most speakers is killed while it is delivered', { timeout: 150_000 }, async () => {
    const { token, communeId } = await startCluster();
    const where = await holders();
    const count = (name: string) => [...where.values()].filter((n) => n === name).length;
    const victim = [...nodes].sort((a, b) => count(b.name) - count(a.name))[0]!;
    expect(count(victim.name)).toBeGreaterThan(0);
    const survivors = nodes.filter((n) => n !== victim);
    const desk = survivors[0]!;
    const contentId = await uploadTone(desk, token, 1);

    const alert = await api<{ id: string }>(desk.base, '/api/v1/alerts', { token, json: { title: 'Lũ quét', contentId, priority: 'emergency', targets: { areaIds: [communeId], deviceIds: [] } } });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    victim.proc.child.kill('SIGKILL');
    // The board, watched on the other survivor: its events come from every node.
    const board = readEvents(`${survivors[1]!.base}/api/v1/alerts/${alert.body.id}/events`, token);

    type View = { deliveries: { deviceId: string; state: string }[]; done: boolean };
    const view = await until('every speaker finished the alert', 60_000, async () => {
      const v = (await api<View>(desk.base, `/api/v1/alerts/${alert.body.id}`, { token })).body;
      return v.deliveries.length === SPEAKERS && v.deliveries.every((d) => d.state === 'finished') ? v : null;
    });
    expect(view.done).toBe(true);
    for (const a of agents) expect(a.sink.starts, `speaker ${a.id}`).toHaveLength(1);
    // The speakers of the dead node moved to the survivors.
    const after = await until('every speaker back online', 30_000, async () => {
      const h = await holders();
      return h.size === SPEAKERS ? h : null;
    });
    expect([...after.values()].every((n) => n !== victim.name)).toBe(true);
    await until('the board showing every speaker finished', 10_000, async () => {
      const finished = new Set<string>();
      for (const e of board.events) {
        if (e.event === 'snapshot') for (const d of (e.data as View).deliveries) if (d.state === 'finished') finished.add(d.deviceId);
        if (e.event === 'deliveries') for (const d of e.data as { deviceId: string; state: string }[]) if (d.state === 'finished') finished.add(d.deviceId);
      }
      return finished.size === SPEAKERS;
    });
    board.close();
    await new Promise((r) => setTimeout(r, 2000)); // a late replay would show up as a second play
    for (const a of agents) expect(a.sink.starts, `speaker ${a.id}`).toHaveLength(1);
  });

  it('keeps a programme playing through the loss of the leader, each play once on every speaker', { timeout: 150_000 }, async () => {
    const { token, communeId } = await startCluster();
    const health = async (n: Node) => (await api<{ node: string; leader: boolean }>(n.base, '/healthz')).body;
    expect((await health(nodes[0]!)).leader).toBe(true);
    const leader = nodes[0]!;
    const survivors = nodes.slice(1);
    const contentId = await uploadTone(survivors[0]!, token, 1);
    const plays = 5;
    const start = new Date(Date.now() + 10_000).toISOString();
    const schedule = await api<{ id: string }>(survivors[0]!.base, '/api/v1/schedules', { token, json: { title: 'Bản tin trưa', items: [{ contentId }], targets: { areaIds: [communeId], deviceIds: [] }, start, repeat: { count: plays, gapSec: 3 } } });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    await until('the first play on every speaker', 30_000, async () => agents.every((a) => a.sink.starts.length >= 1));
    const onLeader = [...(await holders()).values()].filter((n) => n === leader.name).length;
    leader.proc.child.kill('SIGKILL');
    await until('a new leader', 20_000, async () => (await Promise.all(survivors.map(health))).filter((h) => h.leader).length === 1);

    type Report = { deviceId: string; playId: string; status: string };
    const reports = await until('every play reported by every speaker', 90_000, async () => {
      const r = (await api<Report[]>(survivors[1]!.base, '/api/v1/reports', { token })).body;
      if (process.env['CLUSTER_TEST_DEBUG']) console.log(Array.isArray(r) ? r.length : r, agents.map((a) => a.sink.starts.length).join(','));
      return r.length >= plays * SPEAKERS ? r : null;
    });
    await new Promise((r) => setTimeout(r, 3000)); // a resend that played twice would show now
    for (const a of agents) expect(a.sink.starts, `speaker ${a.id}`).toHaveLength(plays);
    const final = (await api<Report[]>(survivors[1]!.base, '/api/v1/reports', { token })).body;
    expect(final).toHaveLength(reports.length);
    expect(final).toHaveLength(plays * SPEAKERS);
    expect(final.every((r) => r.status === 'completed')).toBe(true);
    expect(new Set(final.map((r) => `${r.deviceId}/${r.playId}`)).size).toBe(plays * SPEAKERS);
    // Some speakers were on the leader, and are on the survivors now.
    expect(onLeader).toBeGreaterThan(0);
    const after = await until('every speaker back online', 30_000, async () => {
      const h = await holders();
      return h.size === SPEAKERS ? h : null;
    });
    expect([...after.values()].every((n) => n !== leader.name)).toBe(true);
  });
});
