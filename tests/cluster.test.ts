/**
 * Issue 17: two (and three) server nodes in one test, for real: one PostgreSQL database, one
 * Redis server (Debian's redis-server, started here), Aedes on TCP on each node and mqtt.js
 * clients in the devices' place. A device connected to one node gets what another node sends
 * it, area alerts reach the devices of every node, presence and live events are the same on
 * every node, one node leads and another takes over when it stops, and a node with another
 * secret does not join.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { ServerCore, type ClusterOptions, type CoreOptions } from '@loalang/broker';
import { bytesSignatureValid, deviceTopic, parseEnvelope, parseFrameGroup, systemClock, type AlertMessage, type Clock, type TimeReply } from '@loalang/protocol';
import { freshPostgres, postgresUrl, redisSkipReason, startRedis, untilWithin, type RedisServer } from '@loalang/test-kit';

const skip = postgresUrl() === null ? 'no PostgreSQL cluster in this run' : redisSkipReason();
if (skip) console.warn(`cluster tests skipped: ${skip}`);

const SECRET = 'cluster-secret-for-tests-0123456789';
const until = untilWithin({ timeoutMs: 10_000, intervalMs: 25 });

let redis: RedisServer;
let dir: string;
let databaseUrl: string;
const nodes: ServerCore[] = [];
const clients: MqttClient[] = [];
/** Extra Redis servers a test started (a replica, a sentinel): stopped after it, even when it timed out. */
const extraRedis: RedisServer[] = [];

async function startNode(nodeId: string, cluster: Partial<ClusterOptions> = {}, clock?: Clock, options: Partial<CoreOptions> = {}): Promise<ServerCore> {
  const core = await ServerCore.create({
    ...options,
    ...(clock ? { clock } : {}),
    databaseUrl,
    // The nodes share the content folder, as they share a network file system in production.
    dataDir: dir,
    mqttHost: '127.0.0.1',
    mqttPort: 0,
    publicHttpUrl: () => 'http://127.0.0.1:9',
    cluster: { redisUrl: redis.url, secret: SECRET, nodeId, timings: { heartbeatMs: 200, deadAfterMs: 1500 }, leaderPollMs: 200, ...cluster },
  });
  nodes.push(core);
  await core.start();
  return core;
}

interface Speaker {
  client: MqttClient;
  alerts: AlertMessage[];
  commands: unknown[];
}

async function connect(core: ServerCore, device: { id: string; secret: string }, areaIds: string[]): Promise<Speaker> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: device.secret, clean: true, reconnectPeriod: 0 });
  clients.push(client);
  const speaker: Speaker = { client, alerts: [], commands: [] };
  client.on('message', (topic, payload) => {
    const e = parseEnvelope(payload);
    if (!e.ok) return; // its own uplinks, echoed
    if (topic.endsWith('/alert')) speaker.alerts.push(e.value.body as AlertMessage);
    if (topic.endsWith(`/${device.id}/cmd`)) speaker.commands.push(e.value.body);
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync([`loalang/v1/dev/${device.id}/#`, ...areaIds.map((a) => `loalang/v1/area/${a}/alert`)], { qos: 1 });
  return speaker;
}

beforeAll(async () => {
  if (!skip) redis = await startRedis();
});

afterAll(async () => {
  await redis?.destroy();
});

beforeEach(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'loalang-cluster-'));
  databaseUrl = await freshPostgres('cluster');
});

afterEach(async () => {
  // A sentinel left running would make the restarted primary a replica of the one it promoted.
  for (const r of extraRedis.splice(0)) await r.destroy();
  if (redis && !redis.running) await redis.start();
  for (const c of clients.splice(0)) c.end(true);
  for (const n of nodes.splice(0).reverse()) await n.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('several server nodes over Redis and PostgreSQL', () => {
  async function fleet(core: ServerCore, count: number) {
    const root = await core.areas.create({ name: 'Tỉnh', parentId: null });
    const commune = await core.areas.create({ name: 'Xã', parentId: root.id });
    const devices = [];
    for (let i = 0; i < count; i++) {
      const { device, secret } = await core.devices.create({ name: `Loa ${i}`, areaId: commune.id });
      devices.push({ id: device.id, secret });
    }
    return { root, commune, devices };
  }

  it('delivers to a device on another node, fans an area alert out once to every node, and shows one presence everywhere', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { root, commune, devices } = await fleet(a, 4);
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    const patterns = async () => Number(await probe.call('PUBSUB', 'NUMPAT'));
    const patternsBefore = await patterns();
    const onA = [await connect(a, devices[0]!, [root.id, commune.id]), await connect(a, devices[1]!, [root.id, commune.id])];
    const onB = [await connect(b, devices[2]!, [root.id, commune.id]), await connect(b, devices[3]!, [root.id, commune.id])];
    // A device's own topics add no Redis pattern (one per node covers them all: routed-emitter.ts).
    expect(await patterns()).toBe(patternsBefore);
    probe.disconnect();

    // Presence: each node sees the devices of the other, and the database says which node holds each.
    await until('every device online on both nodes', () => devices.every((d) => a.mqtt.isOnline(d.id) && b.mqtt.isOnline(d.id)));
    const holders = async () => (await a.database.selectFrom('devices').select(['online', 'node_id']).orderBy('name').execute()).map((r) => `${r.online}:${r.node_id}`).join(' ');
    await until('the database naming each device\'s node', async () => (await holders()) === '1:node-a 1:node-a 1:node-b 1:node-b');

    // A command issued on node B reaches the device connected to node A.
    await b.mqtt.publishToDevice(devices[0]!.id, 'cmd', { v: 1, commandId: 'c-1', type: 'ping', issuedAt: new Date().toISOString() } as never);
    await until('the command on node A', () => onA[0]!.commands.length > 0);
    expect(a.cluster.stats().mqtt?.relayed).toBeGreaterThan(0);
    expect(onB.every((s) => s.commands.length === 0)).toBe(true);

    // An alert issued on node A: one publish per area, delivered by each node to its own speakers, once each.
    writeFileSync(join(mkdirSyncP(join(dir, 'content')), 'bulletin.ogg'), Buffer.alloc(10));
    await a.content.insert({ id: 'bulletin', title: 'Bản tin', areaId: root.id, originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 10, durationMs: 5000, source: {}, createdBy: null });
    const alert = await a.alerts.create({ title: 'Lũ', text: null, contentId: 'bulletin', priority: 'emergency', targets: { areaIds: [commune.id], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null });
    await until('the alert on every speaker', () => [...onA, ...onB].every((s) => s.alerts.some((m) => m.type === 'alert' && m.alertId === alert.id)));
    await new Promise((r) => setTimeout(r, 300));
    for (const s of [...onA, ...onB]) expect(s.alerts.filter((m) => m.alertId === alert.id)).toHaveLength(1);
    // Every delivery is pending (online), none offline: node A knew the devices on node B were online.
    expect((await a.alerts.repo.devicesIn(alert.id, ['offline'])).length).toBe(0);

    // A device leaves node B: both nodes see it offline.
    onB[1]!.client.end(true);
    await until('the device offline on both nodes', () => !a.mqtt.isOnline(devices[3]!.id) && !b.mqtt.isOnline(devices[3]!.id));
    await until('the device offline in the database', async () => (await a.devices.get(devices[3]!.id))?.online === false);
  });

  it('shows the live events of every node on each: a device change on node B reaches a console on node A', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { devices } = await fleet(a, 1);
    const seen: string[] = [];
    a.live.on('device', (id) => seen.push(id));
    await connect(b, devices[0]!, []);
    await until('the device event from node B on node A', () => seen.includes(devices[0]!.id));
    // A burst in one turn (an alert's receipts) travels in sealed batches, every event in order.
    const burst = Array.from({ length: 1_201 }, (_, i) => `burst-${i}`);
    const { Redis } = await import('ioredis');
    const listener = new Redis(redis.url);
    let publishes = 0;
    listener.on('messageBuffer', () => publishes++);
    await listener.subscribe('loalang:cluster');
    const sentBefore = b.cluster.stats().bus!.sent;
    for (const id of burst) b.changes.emit('device', id);
    await until('the whole burst on node A', () => seen.filter((id) => id.startsWith('burst-')).length >= burst.length);
    expect(seen.filter((id) => id.startsWith('burst-'))).toEqual(burst);
    expect(b.cluster.stats().bus!.sent - sentBefore).toBe(burst.length);
    expect(publishes).toBeGreaterThanOrEqual(3); // 500 + 500 + 201
    expect(publishes).toBeLessThanOrEqual(6); // not one a message (a stray presence or heartbeat message may share the window)
    listener.disconnect();
  });

  it('moves a device between nodes: its old connection is closed, and it ends online under the new node on both', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { devices } = await fleet(a, 1);
    const first = await connect(a, devices[0]!, []);
    await until('node B seeing the device on node A', () => b.mqtt.isOnline(devices[0]!.id));
    // Node A's "online" may still be in flight when the device is on node B: it is the older
    // connection, so it does not take the row back (presence-writes.ts).
    const closed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
    await connect(b, devices[0]!, []);
    await closed; // Aedes on node A closed the old connection when the id connected to node B
    await until('the device recorded under node B', async () => (await a.database.selectFrom('devices').select('node_id').where('id', '=', devices[0]!.id).executeTakeFirst())?.node_id === 'node-b');
    await new Promise((r) => setTimeout(r, 500));
    expect(a.mqtt.isOnline(devices[0]!.id)).toBe(true);
    expect(b.mqtt.isOnline(devices[0]!.id)).toBe(true);
    expect((await a.devices.get(devices[0]!.id))?.online).toBe(true);
  });

  it('keeps one time on nodes whose clocks are seconds apart: the newer connection wins, heartbeats hold, speakers get one time', async () => {
    const skewed = (ms: number): Clock => ({ now: () => Date.now() + ms, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout });
    const a = await startNode('node-a', {}, skewed(-7_000));
    const b = await startNode('node-b', {}, skewed(4_000));
    // Each keeps the database server's time (here on this machine's clock), not its own.
    for (const node of [a, b]) expect(Math.abs(node.clock.now() - Date.now())).toBeLessThan(250);
    await new Promise((r) => setTimeout(r, 600)); // a few heartbeats
    expect((await a.cluster.registry!.list()).map((n) => `${n.id}:${n.alive}`)).toEqual(['node-a:true', 'node-b:true']);
    const { devices } = await fleet(a, 1);
    const device = devices[0]!;
    const recorded = async () => (await a.database.selectFrom('devices').select(['online', 'node_id']).where('id', '=', device.id).executeTakeFirst()) ?? null;
    // On node B (4 s ahead), then on node A (7 s behind): on their own clocks node A's connection
    // would be 11 s older than node B's and lose; on the shared clock it is the newer one.
    const first = await connect(b, device, []);
    await until('the device recorded under node B', async () => (await recorded())?.node_id === 'node-b');
    const closed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
    const second = await connect(a, device, []);
    await closed;
    await until('the device recorded under node A', async () => (await recorded())?.node_id === 'node-a');
    await new Promise((r) => setTimeout(r, 500)); // node B's late "offline" changes nothing
    expect(await recorded()).toEqual({ online: 1, node_id: 'node-a' });
    // Its time probe is answered on the shared clock: what a speaker synchronises to, and signs by.
    const replies: TimeReply[] = [];
    second.client.on('message', (topic, payload) => {
      const e = parseEnvelope(payload);
      if (topic.endsWith('/time/reply') && e.ok) replies.push(e.value.body as TimeReply);
    });
    await second.client.publishAsync(deviceTopic(device.id, 'time'), JSON.stringify({ v: 1, t0: Date.now() }), { qos: 0 });
    await until('a time reply', () => replies.length > 0);
    expect(Math.abs(replies[0]!.t2 - Date.now())).toBeLessThan(250);
  });

  it('has one leader; when it stops, another node takes over within seconds', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const c = await startNode('node-c');
    const leaders = () => [a, b, c].filter((n) => n.cluster.leadership.isLeader());
    await until('one leader', () => leaders().length === 1);
    const first = leaders()[0]!;
    expect(first).toBe(a); // the first to start
    const started = Date.now();
    await first.stop();
    nodes.splice(nodes.indexOf(first), 1);
    await until('a new leader', () => [b, c].some((n) => n.cluster.leadership.isLeader()));
    expect(Date.now() - started).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 600));
    expect([b, c].filter((n) => n.cluster.leadership.isLeader())).toHaveLength(1);
  });

  it('sends the outbox from the leader alone: what another node wrote goes out once, and the next leader sends what waits', async () => {
    const fast = { outbox: { baseMs: 200, maxMs: 400, pollMs: 100 } };
    const a = await startNode('node-a', {}, undefined, fast);
    const b = await startNode('node-b', {}, undefined, fast);
    await until('a leads', () => a.cluster.leadership.isLeader());
    let answer = 503;
    const got: { node: string; key: string; body: string; answer: number }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ node: String(req.headers['x-node']), key: String(req.headers['idempotency-key']), body, answer });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/in`;
      for (const [name, node] of [['node-a', a], ['node-b', b]] as const) node.outboxSender.route('test', async () => ({ url, headers: { 'x-node': name } }));
      // Written on the node that does not lead; the receiver is refusing for now.
      for (let i = 1; i <= 3; i++) await b.outbox.enqueue({ channel: 'test:c', kind: 'n', body: `{"i":${i}}` });
      await until('the leader tried', () => got.length >= 2);
      expect(new Set(got.map((g) => g.node))).toEqual(new Set(['node-a']));
      expect(new Set(got.map((g) => g.body))).toEqual(new Set(['{"i":1}'])); // the channel waits on its head
      await a.stop();
      nodes.splice(nodes.indexOf(a), 1);
      await until('b leads', () => b.cluster.leadership.isLeader());
      answer = 200;
      await until('all delivered', async () => (await b.outbox.counts('test:'))['test:c']?.delivered === 3);
      const accepted = got.filter((g) => g.answer === 200);
      expect(accepted.every((g) => g.node === 'node-b')).toBe(true);
      expect(accepted.map((g) => g.body)).toEqual(['{"i":1}', '{"i":2}', '{"i":3}']);
      expect(new Set(accepted.map((g) => g.key)).size).toBe(3);
    } finally {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  });

  it('marks the devices of a node that stopped writing its heartbeat offline, on every node', async () => {
    const a = await startNode('node-a');
    const { devices } = await fleet(a, 2);
    // A node that died without a word: its devices are still recorded online under it.
    await a.database.insertInto('cluster_nodes').values({ id: 'node-dead', started_at: new Date().toISOString(), seen_at_ms: Date.now() - 60_000, secret_check: 'x' }).execute();
    await a.database.updateTable('devices').set({ online: 1, node_id: 'node-dead' }).execute();
    const b = await startNode('node-b');
    await until('node B reading presence', () => devices.every((d) => b.mqtt.isOnline(d.id)) || devices.every((d) => !b.mqtt.isOnline(d.id)));
    await until('no device online in the database', async () => (await a.database.selectFrom('devices').select('online').where('online', '=', 1).execute()).length === 0);
    await until('the devices offline on both nodes', () => devices.every((d) => !a.mqtt.isOnline(d.id) && !b.mqtt.isOnline(d.id)));
    const history = await a.devices.presenceHistory(devices[0]!.id);
    expect(history[0]).toMatchObject({ online: false, cause: 'node-lost' });
  });

  it('records a node\'s speakers online again when the leader took it for dead but it was only late', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { devices } = await fleet(a, 1);
    await connect(b, devices[0]!, []);
    const row = async () => a.database.selectFrom('devices').select(['online', 'node_id']).where('id', '=', devices[0]!.id).executeTakeFirst();
    await until('the device online under node B', async () => (await row())?.online === 1);
    // Node B's heartbeat stops: the leader marks its speaker offline, and tells it so.
    await b.cluster.registry!.leave();
    await until('the device marked node-lost', async () => (await a.devices.presenceHistory(devices[0]!.id)).some((h) => h.cause === 'node-lost'));
    await b.cluster.registry!.join();
    await until('the device online under node B again', async () => {
      const r = await row();
      return r?.online === 1 && r.node_id === 'node-b' && a.mqtt.isOnline(devices[0]!.id);
    });
    expect((await a.devices.presenceHistory(devices[0]!.id))[0]).toMatchObject({ online: true, cause: 'node-back' });
  });

  it('refuses a node with another cluster secret, and ignores messages sealed with it', async () => {
    const a = await startNode('node-a');
    await expect(startNode('node-x', { secret: 'another-secret-of-sixteen-chars' })).rejects.toMatchObject({ code: 'LOA_ERR_CLUSTER_SECRET' });
    // Something on the Redis server publishing on the cluster channel is not listened to.
    const { Redis } = await import('ioredis');
    const stranger = new Redis(redis.url);
    await stranger.publish('loalang:cluster', Buffer.concat([Buffer.alloc(32), Buffer.from(JSON.stringify({ node: 'x', m: { t: 'disconnect', deviceId: 'd' } }))]));
    await until('the stranger\'s message refused', () => (a.cluster.stats().bus?.refused ?? 0) >= 1);
    stranger.disconnect();
  });

  it('checks a known device with one MAC on every node: argon2 once for the cluster, and a new secret voids it', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { devices } = await fleet(a, 1);
    const device = devices[0]!;
    expect(await a.devices.verify(device.id, Buffer.from(device.secret))).not.toBeNull();
    const mac = async () => (await a.database.selectFrom('devices').select('auth_mac').where('id', '=', device.id).executeTakeFirst())?.auth_mac;
    const first = await mac();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await b.devices.verify(device.id, Buffer.from(device.secret))).not.toBeNull();
    expect(await mac()).toBe(first); // node B accepted the MAC node A wrote
    expect(await b.devices.verify(device.id, Buffer.from('wrong'))).toBeNull();
    const secret = await a.devices.rotateSecret(device.id);
    expect(await mac()).toBeNull();
    expect(await b.devices.verify(device.id, Buffer.from(device.secret))).toBeNull();
    expect(await b.devices.verify(device.id, Buffer.from(secret))).not.toBeNull();
  });

  it('keeps serving each node\'s own speakers while Redis is away, and shares again when it is back', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { root, commune, devices } = await fleet(a, 3);
    const onA = await connect(a, devices[0]!, [root.id, commune.id]);
    const onB = await connect(b, devices[1]!, [root.id, commune.id]);
    const stayingOnB = await connect(b, devices[2]!, [root.id, commune.id]);
    await until('the devices online on both nodes', () => devices.every((d) => a.mqtt.isOnline(d.id) && b.mqtt.isOnline(d.id)));

    await redis.stop();
    // A command for its own device, and an area alert: node A delivers them to its own speakers.
    await a.mqtt.publishToDevice(devices[0]!.id, 'cmd', { v: 1, commandId: 'while-away', type: 'ping', issuedAt: new Date().toISOString() } as never);
    await until('the command to node A\'s own device', () => onA.commands.length === 1);
    writeFileSync(join(mkdirSyncP(join(dir, 'content')), 'bulletin.ogg'), Buffer.alloc(10));
    await a.content.insert({ id: 'bulletin', title: 'Bản tin', areaId: root.id, originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 10, durationMs: 5000, source: {}, createdBy: null });
    const alert = await a.alerts.create({ title: 'Lũ', text: null, contentId: 'bulletin', priority: 'emergency', targets: { areaIds: [commune.id], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null });
    await until('the alert on node A\'s own speaker', () => onA.alerts.some((m) => m.alertId === alert.id));
    expect(a.cluster.stats().mqtt?.notShared).toBeGreaterThan(0);
    expect(stayingOnB.alerts).toHaveLength(0);
    // Meanwhile node B's device leaves: node A does not hear of it yet.
    onB.client.end(true);
    await until('node B seeing its device gone', () => !b.mqtt.isOnline(devices[1]!.id));

    await redis.start();
    // Presence is read again from the database once the bus is back, and node B's speaker gets the alert it missed.
    await until('node A seeing node B\'s device gone', () => !a.mqtt.isOnline(devices[1]!.id), 15_000);
    await until('the missed alert on node B\'s speaker', () => stayingOnB.alerts.some((m) => m.alertId === alert.id), 15_000);
    // And messages cross nodes again: a command from node B to the device on node A.
    await until('a command through Redis again', async () => {
      await b.mqtt.publishToDevice(devices[0]!.id, 'cmd', { v: 1, commandId: 'after', type: 'ping', issuedAt: new Date().toISOString() } as never);
      await new Promise((r) => setTimeout(r, 200));
      return onA.commands.length > 1;
    }, 15_000);
  });

  it('runs a live announcement fed to one node for the speakers of every node: their states reach it, and the other node can end it', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { root, commune, devices } = await fleet(a, 2);
    const user = await a.users.create({ username: 'phat-thanh', password: 'mat-khau-thu-nghiem', role: 'operator', areaId: root.id });
    const caller = { user, scope: await a.areas.subtreeIds(root.id) };
    const heard = devices.map(() => ({ on: 0, end: 0, frames: new Set<number>() }));
    const speakers: Speaker[] = [];
    for (const [i, core] of [a, b].entries()) {
      const s = await connect(core, devices[i]!, [root.id, commune.id]);
      speakers.push(s);
      await s.client.subscribeAsync(`loalang/v1/area/${commune.id}/live/#`, { qos: 0 });
      s.client.on('message', (topic, payload) => {
        if (topic.endsWith('/live/audio')) {
          const g = parseFrameGroup(payload);
          if (g.ok && bytesSignatureValid(g.value.signed, g.value.signature, a.signer.trusted()[0]!.publicKey)) g.value.frames.forEach((_, k) => heard[i]!.frames.add(g.value.firstIndex + k));
        } else if (topic.endsWith('/live')) {
          const body = parseEnvelope(payload);
          if (!body.ok) return;
          if ((body.value.body as { type: string }).type === 'live') heard[i]!.on++;
          else heard[i]!.end++;
        }
      });
    }
    // Prepared through node A, its source reaches node B: the session runs there.
    const prepared = await a.liveDesk.prepare(caller, { areaIds: [commune.id] });
    await b.liveDesk.open(prepared.session.id, prepared.ticket);
    expect(a.liveAnnouncements.get(prepared.session.id)).toBeNull();
    for (let i = 0; i < 30; i++) {
      b.liveDesk.feed(prepared.session.id, i, Buffer.from([0xf8, 0xff, 0xfe]));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('every frame on the speakers of both nodes', () => heard.every((h) => h.on > 0 && h.frames.size === 30));
    // The speaker on node A says it plays: node B, which runs the session, hears of it.
    const state = { v: 1, sessionId: prepared.session.id, state: 'playing', at: new Date().toISOString() };
    speakers[0]!.client.publish(deviceTopic(devices[0]!.id, 'live/status'), JSON.stringify(state), { qos: 0 });
    await until('the state on node B', async () => (await b.liveDesk.detail(caller, prepared.session.id)).speakers.some((sp) => sp.deviceId === devices[0]!.id && sp.state === 'playing'));
    // Ended from node A: node B ends it, and every speaker hears the end.
    expect(await a.liveDesk.end(caller, prepared.session.id)).toBe(false);
    await until('ended on node B', () => b.liveAnnouncements.get(prepared.session.id) === null);
    await until('the end on the speakers of both nodes', () => heard.every((h) => h.end > 0));
    await b.liveDesk.settled();
    expect(await a.liveDesk.detail(caller, prepared.session.id)).toMatchObject({ session: { nodeId: 'node-b', endReason: 'ended', frames: { placed: 30, lastIndex: 29 } } });
  });

  it("delivers an area's alerts, which go round Redis, between a node's own messages to the speaker: none is dropped as an old one", async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const { commune, devices } = await fleet(a, 1);
    const onB = await connect(b, devices[0]!, [commune.id]);
    await until('node A seeing the device on node B', () => a.mqtt.isOnline(devices[0]!.id));
    for (let i = 0; i < 20; i++) {
      // The alert leaves node B first (through Redis), the command after it (to its own speaker, at once).
      const alert = b.mqtt.publishToArea(commune.id, 'alert', { n: i });
      const command = b.mqtt.publishToDevice(devices[0]!.id, 'cmd', { v: 1, commandId: `c${i}`, type: 'ping', issuedAt: new Date().toISOString() } as never);
      await Promise.all([alert, command]);
    }
    await until('20 alerts and 20 commands on the speaker', () => onB.alerts.length >= 20 && onB.commands.length >= 20);
    await new Promise((r) => setTimeout(r, 200));
    expect([onB.alerts.length, onB.commands.length]).toEqual([20, 20]);
  });

  it('counts wrong passwords across nodes, and records in the audit log which node acted', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const source = '203.0.113.7';
    // Five wrong passwords from one address, alternating between the nodes: the sixth waits on either.
    let until1: string | null = null;
    for (let i = 0; i < 5; i++) until1 = await (i % 2 ? b : a).loginThrottle.failed('chu-tich', source);
    expect(until1).not.toBeNull();
    expect(await a.loginThrottle.blockedUntil('chu-tich', source)).toBe(until1);
    expect(await b.loginThrottle.blockedUntil('chu-tich', source)).toBe(until1);
    const entry = { at: new Date().toISOString(), userId: null, username: null, areaId: null, source, action: 'login-failed', target: null, status: 401, detail: null };
    await a.audit.append(entry);
    await b.audit.append(entry);
    expect((await a.audit.query({ limit: 10 })).map((e) => e.node)).toEqual(['node-b', 'node-a']);
  });

  it('does not start as a node without PostgreSQL, with a short secret or with a Redis address it cannot use', async () => {
    await expect(ServerCore.create({ dataDir: dir, mqttPort: 0, publicHttpUrl: () => '', cluster: { redisUrl: redis.url, secret: SECRET, nodeId: 'n' } })).rejects.toMatchObject({ code: 'LOA_ERR_CLUSTER_CONFIG' });
    await expect(ServerCore.create({ databaseUrl, dataDir: dir, mqttPort: 0, publicHttpUrl: () => '', cluster: { redisUrl: redis.url, secret: 'short', nodeId: 'n' } })).rejects.toMatchObject({ code: 'LOA_ERR_CLUSTER_CONFIG' });
    for (const redisUrl of ['127.0.0.1:6379', 'redis-sentinel://127.0.0.1:26379', 'redis-sentinel://127.0.0.1:99999/loalang']) {
      await expect(ServerCore.create({ databaseUrl, dataDir: dir, mqttPort: 0, publicHttpUrl: () => '', cluster: { redisUrl, secret: SECRET, nodeId: 'n' } })).rejects.toMatchObject({ code: 'LOA_ERR_CLUSTER_CONFIG', message: expect.stringContaining('LOALANG_REDIS_URL') });
    }
  });

  it('follows Redis Sentinel to the replica it promotes when the primary dies', async () => {
    const replica = await startRedis({ replicaOf: redis.port });
    extraRedis.push(replica);
    const sentinel = await startRedis({ sentinelOf: redis.port });
    extraRedis.push(sentinel);
    try {
      // The sentinel learns of the replica from the primary before it can promote it.
      const asker = new Redis({ port: sentinel.port, host: '127.0.0.1', lazyConnect: true });
      await asker.connect();
      await until('the sentinel knowing the replica', async () => ((await asker.call('SENTINEL', 'REPLICAS', 'loalang')) as unknown[]).length === 1, 30_000);
      const redisUrl = `redis-sentinel://127.0.0.1:${sentinel.port}/loalang`;
      const a = await startNode('node-a', { redisUrl });
      const b = await startNode('node-b', { redisUrl });
      const { devices } = await fleet(a, 1);
      const onA = await connect(a, devices[0]!, []);
      await until('node B seeing the device on node A', () => b.mqtt.isOnline(devices[0]!.id));
      const command = (id: string) => b.mqtt.publishToDevice(devices[0]!.id, 'cmd', { v: 1, commandId: id, type: 'ping', issuedAt: new Date().toISOString() } as never);
      await command('before');
      await until('a command from node B through the primary', () => onA.commands.length === 1);

      await redis.stop(); // the primary dies; the sentinel promotes the replica
      let tries = 0;
      await until('a command from node B through the promoted replica', async () => {
        await command(`after-${++tries}`);
        await new Promise((r) => setTimeout(r, 250));
        return onA.commands.length > 1;
      }, 30_000);
      expect(await asker.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'loalang')).toEqual(['127.0.0.1', String(replica.port)]);
      asker.disconnect();
    } finally {
      // The nodes first, while the Redis they follow is still there; the Redis servers in afterEach.
      for (const n of nodes.splice(0).reverse()) await n.stop().catch(() => undefined);
    }
  }, 90_000);
});

function mkdirSyncP(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
