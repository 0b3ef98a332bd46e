/**
 * Issue 17: a cluster of real `loalang server` processes on one PostgreSQL database and one Redis
 * server, and real agents in this process (timed sinks in place of sound cards), for the
 * cluster's end-to-end tests.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { freshPostgres, postgresUrl, redisSkipReason, type RedisServer } from '@loalang/test-kit';
import { freePort } from '../test-kit/src/free-port.mjs';
import { TimedSink } from './alert-support.js';

export { freePort };
import { api, hasTool, startCli, until, type Proc } from './support.js';

export const PASSWORD = 'mat-khau-quan-tri-cum';
export const CLUSTER_SECRET = 'the-shared-secret-of-this-cluster-0123';

/** Why the cluster tests cannot run here, or null. */
export function clusterSkipReason(): string | null {
  if (postgresUrl() === null) return 'no PostgreSQL cluster in this run';
  return redisSkipReason() ?? (hasTool('ffmpeg') ? null : 'ffmpeg is not installed');
}

export interface ClusterNodeProc {
  name: string;
  proc: Proc;
  base: string;
  httpPort: number;
  mqttPort: number;
  mqttUrl: string;
  httpUrl: string;
}

export interface Speaker {
  id: string;
  agent: Agent;
  sink: TimedSink;
}

export class TestCluster {
  readonly nodes: ClusterNodeProc[] = [];
  readonly speakers: Speaker[] = [];
  token = '';
  rootId = '';

  private constructor(
    readonly dir: string,
    readonly databaseUrl: string,
    private readonly redis: RedisServer,
  ) {}

  /** `count` nodes started one after the other (the first leads); `env` adds to every node's environment. */
  static async start(redis: RedisServer, count: number, env: (ports: { http: number; mqtt: number }[]) => Record<string, string> = () => ({})): Promise<TestCluster> {
    const cluster = new TestCluster(mkdtempSync(join(tmpdir(), 'loalang-cluster-e2e-')), await freshPostgres('cluster_e2e'), redis);
    const ports = [];
    for (let i = 0; i < count; i++) ports.push({ http: await freePort(), mqtt: await freePort() });
    const extra = env(ports);
    for (const [i, p] of ports.entries()) {
      const name = `node-${i + 1}`;
      const proc = startCli(['server', '--data', cluster.dir, '--http-port', String(p.http), '--mqtt-port', String(p.mqtt), '--host', '127.0.0.1', '--plaintext'], {
        LOALANG_ADMIN_PASSWORD: PASSWORD,
        LOALANG_LOG_LEVEL: 'warn',
        LOALANG_DATABASE_URL: cluster.databaseUrl,
        LOALANG_REDIS_URL: redis.url,
        LOALANG_CLUSTER_SECRET: CLUSTER_SECRET,
        LOALANG_NODE_ID: name,
        LOALANG_PUBLIC_HTTP_URL: `http://127.0.0.1:${ports[0]!.http}`,
        ...extra,
      });
      cluster.nodes.push({ name, proc, base: `http://127.0.0.1:${p.http}`, httpPort: p.http, mqttPort: p.mqtt, mqttUrl: `mqtt://127.0.0.1:${p.mqtt}`, httpUrl: `http://127.0.0.1:${p.http}` });
      await proc.waitFor(/api:\s+http:\/\/\S+\/api\/v1/, 30_000);
    }
    cluster.token = (await api<{ token: string }>(cluster.nodes[0]!.base, '/api/v1/auth/login', { json: { username: 'admin', password: PASSWORD } })).body.token;
    cluster.rootId = (await api<{ id: string }[]>(cluster.nodes[0]!.base, '/api/v1/areas', { token: cluster.token })).body[0]!.id;
    return cluster;
  }

  async addArea(base: string, name: string): Promise<string> {
    const res = await api<{ id: string }>(base, '/api/v1/areas', { token: this.token, json: { name, parentId: this.rootId } });
    if (res.status !== 201) throw new Error(`area: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }

  /**
   * Registers a speaker through `base` and runs its agent here; `links` chooses the addresses it
   * is given (default: what the server's agent config says).
   */
  async addSpeaker(base: string, name: string, areaId: string, links: (serverConfig: Record<string, unknown>) => Record<string, unknown> = () => ({})): Promise<Speaker> {
    const device = await api<{ id: string; agentConfig: Record<string, unknown> }>(base, '/api/v1/devices', { token: this.token, json: { name, areaId } });
    if (device.status !== 201) throw new Error(`device: ${device.status} ${JSON.stringify(device.body)}`);
    const raw = { ...device.body.agentConfig, ...links(device.body.agentConfig), cacheDir: join(this.dir, 'agents', device.body.id), serial: { simulate: true }, audioSink: 'null', warmupMs: 300, tailMs: 200 };
    const sink = new TimedSink(1000);
    const agent = await Agent.create(parseAgentConfig(raw, this.dir), { amplifier: createSimulatedAmplifier(), sink, exit: () => undefined, ...(process.env['CLUSTER_TEST_LOG'] ? { logger: pino({ level: 'debug' }) } : {}) });
    await agent.start();
    const speaker = { id: device.body.id, agent, sink };
    this.speakers.push(speaker);
    return speaker;
  }

  /**
   * Every node's MQTT and HTTP addresses (a box that knows them all), ordered so that the box with this id starts on node `first` (an agent
   * starts on the node its id's hash picks from its list: edge-agent's serverRotation), so a test
   * knows some speakers are on each node.
   */
  allNodesStartingAt(deviceId: string, first: number): Record<string, unknown> {
    const n = this.nodes.length;
    const picked = createHash('sha256').update(deviceId).digest().readUInt32BE(0) % n;
    const [head, ...rest] = this.nodes.map((_, k) => this.nodes[(first - picked + k + n * 2) % n]!);
    return { mqttUrl: head!.mqttUrl, failoverMqttUrls: rest.map((x) => x.mqttUrl), httpUrl: head!.httpUrl, failoverHttpUrls: rest.map((x) => x.httpUrl) };
  }

  async waitAllOnline(base: string, timeoutMs = 20_000): Promise<void> {
    await until('every speaker online', timeoutMs, async () => {
      const list = (await api<{ online: boolean }[]>(base, '/api/v1/devices?limit=100', { token: this.token })).body;
      return list.length === this.speakers.length && list.every((d) => d.online);
    });
  }

  /** Which node each online speaker is connected to, from the shared database. */
  async holders(): Promise<Map<string, string>> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; node_id: string }>('SELECT id, node_id FROM devices WHERE online = 1');
      return new Map(rows.map((r) => [r.id, r.node_id]));
    } finally {
      await client.end();
    }
  }

  async uploadTone(base: string, seconds: number): Promise<string> {
    const wav = join(this.dir, `tone-${seconds}.wav`);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=660:duration=${seconds}`, '-ar', '16000', '-ac', '1', wav]);
    const form = new FormData();
    form.append('file', new Blob([readFileSync(wav)]), 'tone.wav');
    const res = await api<{ id: string }>(base, '/api/v1/content', { token: this.token, body: form });
    if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }

  async stop(): Promise<void> {
    for (const s of this.speakers) await s.agent.stop().catch(() => undefined);
    for (const n of this.nodes) await n.proc.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
