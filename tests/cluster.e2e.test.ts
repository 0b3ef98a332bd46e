/**
 * Issue 17, shown with real processes: three `loalang server` nodes sharing one PostgreSQL
 * database and one Redis server (Debian's, started here), and real agents (MQTT session,
 * timeline, player, outbox, simulated amplifier board; a timed sink in place of the sound card,
 * so six of them fit one process) that know every node (failoverMqttUrls, failoverHttpUrls).
 *
 * - The node holding the most speakers is killed (SIGKILL) while an alert is being delivered:
 *   every targeted speaker still plays it once (late ones within 60 s), and the board on a
 *   surviving node shows every speaker's final state.
 * - The leader is killed in the middle of a programme: every play happens once on every speaker,
 *   and one of the survivors leads.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readEvents, startRedis, type RedisServer } from '@loalang/test-kit';
import { api, until } from './support.js';
import { clusterSkipReason, TestCluster, type ClusterNodeProc } from './cluster-support.js';

const skip = clusterSkipReason();
if (skip) console.warn(`cluster end-to-end tests skipped: ${skip}`);

const SPEAKERS = 6;
let redis: RedisServer;
let cluster: TestCluster | null = null;

beforeAll(async () => {
  if (!skip) redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

/** Three nodes and six speakers, registered on every node in turn, all online. */
async function threeNodes(): Promise<{ c: TestCluster; communeId: string }> {
  const c = (cluster = await TestCluster.start(redis, 3));
  const communeId = await c.addArea(c.nodes[2]!.base, 'Xã Hải An');
  // Two speakers start on each node (the leader, node-1, included: the tests kill it under them).
  for (let i = 0; i < SPEAKERS; i++) await c.addSpeaker(c.nodes[i % 3]!.base, `Loa ${i + 1}`, communeId, (config) => c.allNodesStartingAt(String(config['deviceId']), i % 3));
  await c.waitAllOnline(c.nodes[0]!.base);
  return { c, communeId };
}

describe.skipIf(skip !== null)('a cluster of three server nodes', () => {
  it('still plays an alert on every speaker, once each, when the node holding the most speakers is killed while it is delivered', { timeout: 150_000 }, async () => {
    const { c, communeId } = await threeNodes();
    const where = await c.holders();
    const count = (node: ClusterNodeProc) => [...where.values()].filter((n) => n === node.name).length;
    const victim = [...c.nodes].sort((a, b) => count(b) - count(a))[0]!;
    expect(count(victim)).toBeGreaterThan(0);
    const survivors = c.nodes.filter((n) => n !== victim);
    const desk = survivors[0]!;
    const contentId = await c.uploadTone(desk.base, 1);

    const alert = await api<{ id: string }>(desk.base, '/api/v1/alerts', { token: c.token, json: { title: 'Lũ quét', contentId, priority: 'emergency', targets: { areaIds: [communeId], deviceIds: [] } } });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    victim.proc.child.kill('SIGKILL');
    // The board, watched on the other survivor: its events come from every node.
    const board = readEvents(`${survivors[1]!.base}/api/v1/alerts/${alert.body.id}/events`, c.token);

    type View = { deliveries: { deviceId: string; state: string }[]; done: boolean };
    const view = await until('every speaker finished the alert', 60_000, async () => {
      const v = (await api<View>(desk.base, `/api/v1/alerts/${alert.body.id}`, { token: c.token })).body;
      return v.deliveries.length === SPEAKERS && v.deliveries.every((d) => d.state === 'finished') ? v : null;
    });
    expect(view.done).toBe(true);
    for (const s of c.speakers) expect(s.sink.starts, `speaker ${s.id}`).toHaveLength(1);
    // The speakers of the dead node moved to the survivors.
    const after = await until('every speaker back online', 30_000, async () => {
      const h = await c.holders();
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
    for (const s of c.speakers) expect(s.sink.starts, `speaker ${s.id}`).toHaveLength(1);
  });

  it('keeps a programme playing through the loss of the leader, each play once on every speaker', { timeout: 150_000 }, async () => {
    const { c, communeId } = await threeNodes();
    const health = async (n: ClusterNodeProc) => (await api<{ node: string; leader: boolean }>(n.base, '/healthz')).body;
    const leader = c.nodes[0]!;
    expect(await health(leader)).toEqual(expect.objectContaining({ node: 'node-1', leader: true }));
    const survivors = c.nodes.slice(1);
    for (const n of survivors) expect((await health(n)).leader).toBe(false);
    const contentId = await c.uploadTone(survivors[0]!.base, 1);
    const plays = 5;
    const start = new Date(Date.now() + 10_000).toISOString();
    const schedule = await api<{ id: string }>(survivors[0]!.base, '/api/v1/schedules', { token: c.token, json: { title: 'Bản tin trưa', items: [{ contentId }], targets: { areaIds: [communeId], deviceIds: [] }, start, repeat: { count: plays, gapSec: 3 } } });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    await until('the first play on every speaker', 30_000, async () => c.speakers.every((s) => s.sink.starts.length >= 1));
    const onLeader = [...(await c.holders()).values()].filter((n) => n === leader.name).length;
    leader.proc.child.kill('SIGKILL');
    await until('a new leader', 20_000, async () => (await Promise.all(survivors.map(health))).filter((h) => h.leader).length === 1);

    type Report = { deviceId: string; playId: string; status: string };
    const reports = await until('every play reported by every speaker', 90_000, async () => {
      const r = (await api<Report[]>(survivors[1]!.base, '/api/v1/reports', { token: c.token })).body;
      return r.length >= plays * SPEAKERS ? r : null;
    });
    await new Promise((r) => setTimeout(r, 3000)); // a resend that played twice would show now
    for (const s of c.speakers) expect(s.sink.starts, `speaker ${s.id}`).toHaveLength(plays);
    const final = (await api<Report[]>(survivors[1]!.base, '/api/v1/reports', { token: c.token })).body;
    expect(final).toHaveLength(reports.length);
    expect(final).toHaveLength(plays * SPEAKERS);
    expect(final.every((r) => r.status === 'completed')).toBe(true);
    expect(new Set(final.map((r) => `${r.deviceId}/${r.playId}`)).size).toBe(plays * SPEAKERS);
    // Some speakers were on the leader, and are on the survivors now.
    expect(onLeader).toBeGreaterThan(0);
    const after = await until('every speaker back online', 30_000, async () => {
      const h = await c.holders();
      return h.size === SPEAKERS ? h : null;
    });
    expect([...after.values()].every((n) => n !== leader.name)).toBe(true);
  });
});
