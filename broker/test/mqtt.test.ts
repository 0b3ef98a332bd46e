/** The device-facing broker against real mqtt.js clients over TCP on port 0. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { deviceTopic, EnvelopeSigner, newSigningKey, parseEnvelope, type PlayReport } from '@loalang/protocol';
import { Socket } from 'node:net';
import { untilWithin } from '@loalang/test-kit';
import { PacketScanner } from '../src/mqtt/packet-guard.js';
import { MqttServer, type DeviceDirectory, type PresenceChange, type UplinkMessage } from '../src/mqtt/index.js';

function signedBody<T>(payload: Buffer): T {
  const e = parseEnvelope(payload);
  if (!e.ok) throw new Error(`downlink not signed: ${e.reason}`);
  return e.value.body as T;
}

const devices: Record<string, { password: string; areaIds: string[] }> = {
  a: { password: 'secret-a', areaIds: ['x', 'prov'] },
  a2: { password: 'secret-a2', areaIds: ['x', 'prov'] },
  b: { password: 'secret-b', areaIds: ['y', 'prov'] },
};
let directoryFails = false;
const directory: DeviceDirectory = {
  async verify(username, password) {
    if (directoryFails) throw new Error('database locked');
    const d = devices[username];
    return d && d.password === password.toString() ? { deviceId: username, areaIds: d.areaIds } : null;
  },
};

const signingKey = new EnvelopeSigner(newSigningKey().privateKeyPem);
let seq = 0;
const signer = { seal: (kind: string, to: string, body: unknown) => signingKey.seal({ kind, to, iat: Date.now(), exp: Date.now() + 60_000, seq: ++seq, body }) };

let server: MqttServer;
let port: number;
let reportOutcome: 'ok' | 'fail' = 'ok';
const stored: PlayReport[] = [];
const clients: MqttClient[] = [];
const presence: PresenceChange[] = [];
const uplinks: UplinkMessage[] = [];

beforeEach(async () => {
  directoryFails = false;
  reportOutcome = 'ok';
  stored.length = 0;
  presence.length = 0;
  uplinks.length = 0;
  server = await MqttServer.create({
    host: '127.0.0.1',
    port: 0,
    directory,
    signer,
  });
  server.handleReports(async (_deviceId, report) => {
    if (reportOutcome === 'fail') throw new Error('disk full');
    stored.push(report);
  });
  server.on('presence', (c) => presence.push(c));
  server.on('uplink', (u) => uplinks.push(u));
  port = (await server.start()).port;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await server.stop();
});

function connect(id: string, password: string | undefined, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 3000, ...extra });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

const waitFor = untilWithin({ timeoutMs: 3000, intervalMs: 20 });

const report: PlayReport = { v: 1, reportId: 'rep-1', playId: 'p', scheduleId: 's', contentId: 'c', status: 'completed', scheduledAt: '2026-11-22T06:00:00.000Z', playedMs: 1000 };

describe('authentication', () => {
  it('accepts the right credentials and refuses wrong, unknown and borrowed client ids', async () => {
    await expect(connect('a', 'secret-a')).resolves.toBeDefined();
    await expect(connect('a', 'wrong')).rejects.toMatchObject({ code: 4 });
    await expect(connect('zz', 'x')).rejects.toMatchObject({ code: 4 });
    await expect(connect('a', undefined)).rejects.toMatchObject({ code: 4 });
    await expect(connect('b', 'secret-a', { username: 'a' })).rejects.toMatchObject({ code: 4 });
    expect(server.stats().authFailures).toBe(4);
  });

  it('refuses with server-unavailable when the directory fails, and keeps serving', async () => {
    directoryFails = true;
    await expect(connect('a', 'secret-a')).rejects.toMatchObject({ code: 3 });
    directoryFails = false;
    await expect(connect('a', 'secret-a')).resolves.toBeDefined();
  });
});

describe('ACL', () => {
  it("refuses subscriptions to other devices' topics and wildcards that widen", async () => {
    const a = await connect('a', 'secret-a');
    const filters = ['loalang/v1/dev/a/#', 'loalang/v1/area/x/#', 'loalang/v1/area/prov/alert', 'loalang/v1/dev/b/#', '#', 'loalang/v1/dev/+/cmd', 'loalang/v1/area/+/alert', 'loalang/v1/area/y/#', '$SYS/#'];
    // mqtt.js rejects when any filter is refused; the SUBACK's return codes are on the error.
    const err = (await a.subscribeAsync(filters).then(() => null, (e: unknown) => e)) as { packet?: { granted: number[] } } | null;
    expect(err?.packet?.granted).toEqual([0, 0, 0, 128, 128, 128, 128, 128, 128]);
    expect(server.stats().refusedSubscribes).toBe(6);
    expect(a.connected).toBe(true);
  });

  it("never delivers a device's publish on another device's topic, and cuts it off", async () => {
    const b = await connect('b', 'secret-b');
    const got: string[] = [];
    b.on('message', (t) => got.push(t));
    await b.subscribeAsync('loalang/v1/dev/b/#');
    const a = await connect('a', 'secret-a');
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    a.publish(deviceTopic('b', 'cmd'), '{}');
    await closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
    expect(server.stats().refusedPublishes).toBe(1);
  });

  it('refuses retained messages except status', async () => {
    const a = await connect('a', 'secret-a');
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    a.publish(deviceTopic('a', 'telemetry'), '{}', { retain: true });
    await closed;
    expect(server.stats().refusedPublishes).toBe(1);
  });
});

describe('fan-out and downlinks', () => {
  it('reaches the devices of an area only', async () => {
    const got: Record<string, number> = { a: 0, a2: 0, b: 0 };
    for (const id of ['a', 'a2', 'b'] as const) {
      const c = await connect(id, devices[id]!.password);
      await c.subscribeAsync(`loalang/v1/area/${devices[id]!.areaIds[0]}/#`);
      c.on('message', () => got[id]!++);
    }
    await server.publishToArea('x', 'alert', { hello: 1 });
    await waitFor('area delivery', () => got['a'] === 1 && got['a2'] === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got['b']).toBe(0);
  });
});

describe('the order of what the server sends one device', () => {
  it('delivers a device message sent at QoS 1 and an area alert sent at QoS 0 right after it, both (Aedes drops a message from a broker whose counter is below one the client already had)', async () => {
    const c = await connect('a', devices['a']!.password);
    await c.subscribeAsync([deviceTopic('a', 'cmd'), 'loalang/v1/area/x/#'], { qos: 1 });
    const got: string[] = [];
    c.on('message', (topic) => got.push(topic));
    for (let i = 0; i < 20; i++) {
      // Not awaited: the QoS 1 message waits for Aedes' offline queue, the QoS 0 one does not.
      const first = server.publishToDevice('a', 'cmd', { v: 1, commandId: `c${i}`, type: 'ping', issuedAt: new Date().toISOString() } as never);
      const second = server.publishToArea('x', 'alert', { n: i });
      await Promise.all([first, second]);
    }
    await waitFor('40 messages', () => got.length >= 40);
    expect(got.filter((t) => t.endsWith('/cmd'))).toHaveLength(20);
    expect(got.filter((t) => t.endsWith('/alert'))).toHaveLength(20);
  });
});

describe('uplink validation', () => {
  it('drops and counts malformed payloads and keeps serving', async () => {
    const a = await connect('a', 'secret-a');
    await a.publishAsync(deviceTopic('a', 'telemetry'), 'not json', { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'telemetry'), JSON.stringify({ v: 1, at: 'x' }), { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'report'), JSON.stringify({ ...report, status: 'played' }), { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'reported'), JSON.stringify({ v: 1, version: 3, at: '2026-11-22T06:00:00.000Z', cachedContentIds: [], missingContentIds: [] }), { qos: 1 });
    await waitFor('valid uplink after invalid ones', () => uplinks.length === 1);
    expect(uplinks[0]).toMatchObject({ kind: 'reported', deviceId: 'a', message: { version: 3 } });
    expect(server.stats().invalidMessages).toEqual({ 'telemetry:not-json': 1, 'telemetry:schema': 1, 'report:schema': 1 });
    expect(stored).toEqual([]);
  });
});

describe('stopping', () => {
  it('stops listening first and ends every connection, one still logging in too (a restart storm does not hold it)', async () => {
    const other = await MqttServer.create({ host: '127.0.0.1', port: 0, directory, signer });
    const otherPort = (await other.start()).port;
    const device = mqtt.connect(`mqtt://127.0.0.1:${otherPort}`, { clientId: 'a', username: 'a', password: 'secret-a', reconnectPeriod: 0 });
    await new Promise((r) => device.once('connect', r));
    const deviceClosed = new Promise<void>((r) => device.once('close', () => r()));
    // A connection that has not sent its CONNECT yet (a speaker of a reconnect storm, mid-login).
    const raw = new Socket();
    raw.on('error', () => undefined);
    const rawClosed = new Promise<void>((r) => raw.once('close', () => r()));
    await new Promise<void>((r) => raw.connect(otherPort, '127.0.0.1', () => r()));
    await other.stop();
    await Promise.all([deviceClosed, rawClosed]);
    // Nobody is let in any more.
    const refused = await new Promise<string>((resolve) => {
      const s = new Socket();
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      s.once('connect', () => (s.destroy(), resolve('connected')));
      s.connect(otherPort, '127.0.0.1');
    });
    expect(refused).toBe('ECONNREFUSED');
    device.end(true);
  }, 5000);
});

describe('packet size limit', () => {
  it('closes a connection announcing an oversized packet, before login and after, and keeps serving', async () => {
    // Before any login: a CONNECT that announces 200 MiB (Remaining Length 0xFF 0xFF 0xFF 0x63).
    const raw = new Socket();
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.on('error', () => undefined);
    raw.connect(port, '127.0.0.1', () => raw.write(Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0x63]), Buffer.alloc(60_000)])));
    await closed;
    // A logged-in device publishing 2 MiB is cut off too.
    const a = await connect('a', 'secret-a');
    const gone = new Promise<void>((r) => a.once('close', () => r()));
    a.publish(deviceTopic('a', 'telemetry'), Buffer.alloc(2 * 1024 * 1024, 0x20), { qos: 0 });
    await gone;
    expect(server.stats().oversizePackets).toBe(2);
    // Others are served as before, and a message just under the payload limit still passes.
    const b = await connect('b', 'secret-b');
    await b.publishAsync(deviceTopic('b', 'reported'), JSON.stringify({ v: 1, version: 1, at: '2026-11-22T06:00:00.000Z', cachedContentIds: [], missingContentIds: [], agentVersion: 'x'.repeat(10) }), { qos: 1 });
    await b.publishAsync(deviceTopic('b', 'telemetry'), Buffer.alloc(1024 * 1024 - 10, 0x20), { qos: 1 });
    await waitFor('reported state', () => uplinks.some((u) => u.kind === 'reported' && u.deviceId === 'b'));
    expect(b.connected).toBe(true);
  });

  it('follows packet boundaries across chunks and refuses a five-byte length', () => {
    const s = new PacketScanner(100);
    expect(s.push(Buffer.from([0x30, 0x05, 1, 2]))).toBeNull();
    expect(s.push(Buffer.from([3, 4, 5, 0xc0]))).toBeNull(); // body ends, next packet's type byte
    expect(s.push(Buffer.from([0x80]))).toBeNull(); // first length byte, continued
    expect(s.push(Buffer.from([0x01]))).toBe(128); // 128 > 100
    expect(new PacketScanner(1 << 30).push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(Infinity);
  });
});

describe('reports', () => {
  it('acknowledges a report only after it is stored', async () => {
    const a = await connect('a', 'secret-a');
    const acks: string[] = [];
    a.on('message', (topic, payload) => topic.endsWith('/report/ack') && acks.push(signedBody<{ reportId: string }>(payload).reportId));
    await a.subscribeAsync(deviceTopic('a', 'report/ack'), { qos: 1 });
    reportOutcome = 'fail';
    await a.publishAsync(deviceTopic('a', 'report'), JSON.stringify(report), { qos: 1 });
    await new Promise((r) => setTimeout(r, 150));
    expect(acks).toEqual([]);
    reportOutcome = 'ok';
    await a.publishAsync(deviceTopic('a', 'report'), JSON.stringify(report), { qos: 1 });
    await waitFor('ack', () => acks.length === 1);
    expect(acks).toEqual(['rep-1']);
    expect(stored).toHaveLength(1);
  });

  it('acks the reports stored together in one message to an agent that announced report-ack-many, one by one to any other', async () => {
    // Reports are held and then stored together, as one batch of the server's is.
    const held: (() => void)[] = [];
    server.handleReports((_deviceId, r) => new Promise<void>((resolve) => held.push(() => (stored.push(r), resolve()))));
    const acksOf = async (id: string, features: string[] | undefined) => {
      const c = await connect(id, devices[id]!.password);
      const acks: { reportId: string; moreReportIds?: string[] }[] = [];
      c.on('message', (topic, payload) => topic.endsWith('/report/ack') && acks.push(signedBody(payload)));
      await c.publishAsync(deviceTopic(id, 'status'), JSON.stringify({ v: 1, state: 'online', ...(features ? { features } : {}) }), { qos: 1, retain: true });
      await c.subscribeAsync(deviceTopic(id, 'report/ack'), { qos: 1 });
      return { c, acks };
    };
    const newer = await acksOf('a', ['report-ack-many', 'a-feature-from-the-future']);
    const older = await acksOf('b', undefined);
    for (const [id, c] of [['a', newer.c], ['b', older.c]] as const) {
      for (let n = 1; n <= 3; n++) await c.publishAsync(deviceTopic(id, 'report'), JSON.stringify({ ...report, reportId: `${id}-${n}` }), { qos: 1 });
    }
    await waitFor('six reports held', () => held.length === 6);
    held.splice(0).forEach((store) => store());
    await waitFor('acks', () => newer.acks.length === 1 && older.acks.length === 3);
    expect(newer.acks).toEqual([{ v: 1, reportId: 'a-1', moreReportIds: ['a-2', 'a-3'] }]);
    expect(older.acks).toEqual([1, 2, 3].map((n) => ({ v: 1, reportId: `b-${n}` })));

    // A reconnect without the feature (an agent rolled back to an older version) gets single acks again.
    await newer.c.endAsync();
    const rolledBack = await acksOf('a', undefined);
    await rolledBack.c.publishAsync(deviceTopic('a', 'report'), JSON.stringify({ ...report, reportId: 'a-4' }), { qos: 1 });
    await rolledBack.c.publishAsync(deviceTopic('a', 'report'), JSON.stringify({ ...report, reportId: 'a-5' }), { qos: 1 });
    await waitFor('two reports held', () => held.length === 2);
    held.splice(0).forEach((store) => store());
    await waitFor('acks', () => rolledBack.acks.length === 2);
    expect(rolledBack.acks.map((a) => a.moreReportIds)).toEqual([undefined, undefined]);
  });

  it('names report-batch in its time replies, and stores and acks each report of a batch as if sent alone; a malformed batch stores nothing', async () => {
    const a = await connect('a', 'secret-a');
    const replies: { features?: string[] }[] = [];
    const acks: { reportId: string; moreReportIds?: string[] }[] = [];
    a.on('message', (topic, payload) => {
      if (topic.endsWith('/time/reply')) replies.push(signedBody(payload));
      if (topic.endsWith('/report/ack')) acks.push(signedBody(payload));
    });
    await a.subscribeAsync(deviceTopic('a', 'time/reply'), { qos: 0 });
    await a.subscribeAsync(deviceTopic('a', 'report/ack'), { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'time'), JSON.stringify({ v: 1, t0: Date.now() }), { qos: 0 });
    await waitFor('time reply', () => replies.length === 1);
    expect(replies[0]!.features).toContain('report-batch');

    const batch = (ids: string[]) => JSON.stringify({ v: 1, reports: ids.map((reportId) => ({ ...report, reportId })) });
    await a.publishAsync(deviceTopic('a', 'reports'), batch(['b-1', 'b-2', 'b-3']), { qos: 1 });
    await waitFor('three acks', () => acks.length === 3); // this agent did not announce report-ack-many
    expect(acks.map((x) => x.reportId)).toEqual(['b-1', 'b-2', 'b-3']);
    expect(stored.map((r) => r.reportId)).toEqual(['b-1', 'b-2', 'b-3']);

    // Over the limit, empty, or one bad report in it: the whole message is dropped and counted, and the link stays up.
    const tooMany = Array.from({ length: 101 }, (_, i) => `x-${i}`);
    await a.publishAsync(deviceTopic('a', 'reports'), batch(tooMany), { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'reports'), JSON.stringify({ v: 1, reports: [] }), { qos: 1 });
    await a.publishAsync(deviceTopic('a', 'reports'), JSON.stringify({ v: 1, reports: [{ ...report, reportId: 'ok-1' }, { ...report, reportId: 'bad', status: 'sung' }] }), { qos: 1 });
    await waitFor('three invalid', () => (server.stats().invalidMessages['reports:schema'] ?? 0) === 3);
    expect(stored).toHaveLength(3);
    expect(a.connected).toBe(true);
  });

  it('keeps serving when reports are stored in batches: a crowd of acks meets a crowd of reports', async () => {
    // Reports settle 500 at a time, as the server's batches do, so hundreds of acks go out in
    // one turn while thousands of reports wait to come in. With Aedes' default cap of 100
    // messages in flight, that queue was worked through recursively and overflowed the stack.
    const held: (() => void)[] = [];
    server.handleReports(
      (_deviceId, r) =>
        new Promise<void>((resolve) => {
          held.push(() => {
            stored.push(r);
            resolve();
          });
          if (held.length >= 500) held.splice(0).forEach((f) => f());
        }),
    );
    const flush = setInterval(() => held.splice(0).forEach((f) => f()), 20);
    try {
      const ids = Array.from({ length: 100 }, (_, i) => `crowd-${i}`);
      for (const id of ids) devices[id] = { password: `secret-${id}`, areaIds: ['x'] };
      const acked = new Set<string>();
      const clients = await Promise.all(ids.map((id) => connect(id, `secret-${id}`)));
      await Promise.all(
        clients.map((c, i) => {
          c.on('message', (topic, payload) => topic.endsWith('/report/ack') && acked.add(signedBody<{ reportId: string }>(payload).reportId));
          return c.subscribeAsync(deviceTopic(ids[i]!, 'report/ack'), { qos: 1 });
        }),
      );
      const PER = 60;
      for (let j = 0; j < PER; j++) clients.forEach((c, i) => c.publish(deviceTopic(ids[i]!, 'report'), JSON.stringify({ ...report, reportId: `${ids[i]}-${j}` }), { qos: 1 }));
      await untilWithin({ timeoutMs: 20_000, intervalMs: 50 })('every ack', () => acked.size === ids.length * PER);
      expect(stored).toHaveLength(ids.length * PER);
    } finally {
      clearInterval(flush);
    }
  }, 30_000);
});

describe('presence', () => {
  it('goes online on connect and offline on disconnect or a dropped socket, with the retained will', async () => {
    const a = await connect('a', 'secret-a', { will: { topic: deviceTopic('a', 'status'), payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1, retain: true } });
    await waitFor('online', () => server.isOnline('a'));
    expect(presence).toEqual([expect.objectContaining({ deviceId: 'a', online: true })]);
    const watcher = await connect('a2', 'secret-a2');
    void watcher;
    (a as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor('offline', () => !server.isOnline('a'));
    expect(presence.at(-1)).toMatchObject({ deviceId: 'a', online: false });
    await waitFor('will as status uplink', () => uplinks.some((u) => u.kind === 'status' && u.deviceId === 'a' && u.message.state === 'offline'));
  });

  it('stays online when a device reconnects with the same client id', async () => {
    await connect('a', 'secret-a');
    await waitFor('online', () => server.isOnline('a'));
    await connect('a', 'secret-a');
    await new Promise((r) => setTimeout(r, 200));
    expect(server.isOnline('a')).toBe(true);
    expect(presence.filter((p) => !p.online)).toEqual([]);
  });

  it('disconnectDevice cuts a device off', async () => {
    const a = await connect('a', 'secret-a');
    await waitFor('online', () => server.isOnline('a'));
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    server.disconnectDevice('a');
    await closed;
    await waitFor('offline', () => !server.isOnline('a'));
  });
});

describe('topicMatches', () => {
  it('follows MQTT wildcard rules', async () => {
    const { topicMatches } = await import('../src/mqtt/acl.js');
    expect(topicMatches('loalang/v1/dev/a/#', 'loalang/v1/dev/a/desired')).toBe(true);
    expect(topicMatches('loalang/v1/dev/+/desired', 'loalang/v1/dev/a/desired')).toBe(true);
    expect(topicMatches('loalang/v1/dev/a/cmd', 'loalang/v1/dev/a/desired')).toBe(false);
    expect(topicMatches('loalang/v1/dev/a', 'loalang/v1/dev/a/desired')).toBe(false);
    expect(topicMatches('#', 'x/y')).toBe(true);
  });
});
