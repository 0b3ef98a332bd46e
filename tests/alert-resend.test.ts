/**
 * An alert's resend to the speakers that did not confirm goes out a group at a time, and each
 * group is read again before it is sent: a speaker that confirmed meanwhile is not sent the alert
 * again. A speaker that comes back while the alert is valid gets it again, with the audio inline
 * only if it had not confirmed it. Real Aedes on TCP, mqtt.js clients in the speakers' place, the test's database (SQLite or
 * PostgreSQL), and the server's clock in the test's hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { ServerCore } from '@loalang/broker';
import { ManualClock, parseEnvelope, type AlertMessage, type AlertPlay } from '@loalang/protocol';
import { serverDatabase, untilWithin } from '@loalang/test-kit';

const until = untilWithin({ timeoutMs: 10_000, intervalMs: 20 });
const clock = new ManualClock(Date.now());
let core: ServerCore;
let dir: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-resend-'));
  core = await ServerCore.create({
    ...(await serverDatabase()),
    dataDir: dir,
    mqttHost: '127.0.0.1',
    mqttPort: 0,
    clock,
    publicHttpUrl: () => 'http://127.0.0.1:9',
    alerts: { retryMs: 3000, retries: 1, resendBatch: 2, resendPaceMs: 100 },
  });
  await core.start();
});

afterAll(async () => {
  for (const c of clients) c.end(true);
  await core?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Speaker {
  id: string;
  secret: string;
  alerts: AlertMessage[];
  client: MqttClient;
}

/** A speaker on its own topic only (the alert comes there, not through the area's). */
async function speaker(created: { device: { id: string }; secret: string }, into?: Speaker): Promise<Speaker> {
  const { device, secret } = created;
  const s: Speaker = into ?? { id: device.id, secret, alerts: [], client: undefined as unknown as MqttClient };
  const client = mqtt.connect(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: secret, reconnectPeriod: 0 });
  clients.push(client);
  client.on('message', (topic, payload) => {
    const e = parseEnvelope(payload);
    if (e.ok && topic.endsWith('/alert')) s.alerts.push(e.value.body as AlertMessage);
  });
  await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
  await client.subscribeAsync(`loalang/v1/dev/${device.id}/#`, { qos: 1 });
  s.client = client;
  return s;
}

async function bulletin(areaId: string): Promise<string> {
  mkdirSync(join(dir, 'content'), { recursive: true });
  writeFileSync(join(dir, 'content', 'bulletin.ogg'), Buffer.alloc(10));
  if (!(await core.content.get('bulletin'))) await core.content.insert({ id: 'bulletin', title: 'Bản tin', areaId, originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 10, durationMs: 5000, source: {}, createdBy: null });
  return 'bulletin';
}

describe('alert resend and replay', () => {
  it('resends to silent speakers two at a time, and skips the ones that confirmed while it paced', async () => {
    const root = await core.areas.create({ name: 'Tỉnh', parentId: null });
    const speakers: Speaker[] = [];
    for (let i = 0; i < 5; i++) speakers.push(await speaker(await core.devices.create({ name: `Loa ${i}`, areaId: root.id })));
    await until('every speaker online', () => speakers.every((s) => core.mqtt.isOnline(s.id)));
    speakers.sort((x, y) => (x.id < y.id ? -1 : 1)); // the resend's order
    const alert = await core.alerts.create({ title: 'Lũ', text: null, contentId: await bulletin(root.id), priority: 'emergency', targets: { areaIds: [root.id], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null });
    const count = (s: { alerts: AlertMessage[] }) => s.alerts.filter((m) => m.alertId === alert.id).length;
    await until('the alert on every speaker once', () => speakers.every((s) => count(s) === 1));

    // Nobody confirmed: at retryMs the first group of two gets it again, and the rest wait.
    await clock.advanceAsync(3000);
    await until('the first group resent', () => count(speakers[0]!) + count(speakers[1]!) === 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(speakers.slice(2).map(count)).toEqual([1, 1, 1]);

    // Speakers 3 and 4 confirm while the resend paces: the second group is read again and skipped.
    const at = new Date(clock.now()).toISOString();
    for (const s of speakers.slice(2, 4)) await core.alerts.repo.advance(alert.id, s.id, 'received', at);
    // The paced groups wait on the test's clock; each group's read is real database time.
    await until('the last group resent', async () => {
      await clock.advanceAsync(100);
      return count(speakers[4]!) === 2;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(speakers.map(count)).toEqual([2, 2, 1, 1, 2]);
  });

  it('replays a valid alert to a speaker that comes back, the audio inline only if it had not confirmed', async () => {
    const area = await core.areas.create({ name: 'Xã', parentId: null });
    const confirmed = await speaker(await core.devices.create({ name: 'Loa đã nhận', areaId: area.id }));
    const silent = await speaker(await core.devices.create({ name: 'Loa im', areaId: area.id }));
    await until('both online', () => core.mqtt.isOnline(confirmed.id) && core.mqtt.isOnline(silent.id));
    const alert = await core.alerts.create({ title: 'Bão', text: null, contentId: await bulletin(area.id), priority: 'emergency', targets: { areaIds: [area.id], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null });
    const of = (s: Speaker) => s.alerts.filter((m): m is AlertPlay => m.type === 'alert' && m.alertId === alert.id);
    await until('the alert on both', () => of(confirmed).length === 1 && of(silent).length === 1);
    expect(of(confirmed)[0]!.audio.inline).toBeDefined(); // a commune's few speakers: inline
    await core.alerts.repo.advance(alert.id, confirmed.id, 'received', new Date(clock.now()).toISOString());
    for (const s of [confirmed, silent]) {
      await s.client.endAsync();
      await until('offline', () => !core.mqtt.isOnline(s.id));
      await speaker({ device: { id: s.id }, secret: s.secret }, s);
    }
    await until('the alert replayed to both', () => of(confirmed).length === 2 && of(silent).length === 2);
    expect(of(confirmed)[1]!.audio.inline).toBeUndefined();
    expect(of(confirmed)[1]!.audio.url).toContain('/api/v1/content/bulletin/file');
    expect(of(silent)[1]!.audio.inline).toBeDefined();
  });
});
