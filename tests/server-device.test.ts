/**
 * The server core with a real mqtt.js client in the device's place: desired state reaches a
 * device that was offline when the schedule was made, is sent again on every reconnect,
 * and reports are stored once however often they are resent, each resend acknowledged.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { ServerCore } from '@loalang/broker';
import { bootstrapAdmin } from '@loalang/console';
import { DOWNLINK, parseEnvelope, signatureValid, type DesiredState, type PlayReport } from '@loalang/protocol';
import { serverDatabase, untilWithin } from '@loalang/test-kit';

let dir: string;
let core: ServerCore;
let device: { id: string; secret: string };
let contentId: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-srvdev-'));
  core = await ServerCore.create({ ...(await serverDatabase()), dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => 'http://127.0.0.1:9' });
  await core.start();
  const root = await core.areas.create({ name: 'Tỉnh', parentId: null });
  const commune = await core.areas.create({ name: 'Xã', parentId: root.id });
  const created = await core.devices.create({ name: 'Loa', areaId: commune.id });
  device = { id: created.device.id, secret: created.secret };
  contentId = 'c1';
  await core.content.insert({ id: contentId, title: 'Tin', areaId: root.id, originalName: null, mimeType: 'audio/ogg', sha256: 'b'.repeat(64), sizeBytes: 1, durationMs: 4000, source: {}, createdBy: null });
  const admin = await core.users.create({ username: 'adm', password: 'mat-khau-dai-1', role: 'admin', areaId: root.id });
  await core.schedules.create({ title: 'Tin sáng', areaId: root.id, priority: 'normal', start: new Date(Date.now() + 3600_000).toISOString(), items: [{ contentId }], targets: { areaIds: [commune.id], deviceIds: [] }, volume: null, recurrence: null, repeat: { count: 1, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id });
  await core.refreshDevices([device.id]);
});

afterEach(async () => {
  await core.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connectDevice(): Promise<{ client: MqttClient; got: { topic: string; body: unknown }[] }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: device.secret, clean: true, reconnectPeriod: 0 });
  const got: { topic: string; body: unknown }[] = [];
  // Every downlink is a signed envelope (decision 0016): checked here, then unwrapped.
  const [key] = core.signer.trusted();
  client.on('message', (topic, payload) => {
    if (!DOWNLINK.some((kind) => topic.endsWith(`/${device.id}/${kind}`))) return; // its own uplinks, echoed
    const e = parseEnvelope(payload);
    if (!e.ok || !signatureValid(e.value, key!.publicKey)) throw new Error(`unsigned or badly signed downlink on ${topic}`);
    got.push({ topic, body: e.value.body });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(`loalang/v1/dev/${device.id}/#`, { qos: 1 });
  return { client, got };
}

const until = untilWithin({ timeoutMs: 5000, intervalMs: 20 });

describe('server ↔ device', () => {
  it('sends the desired state on connect and again on every reconnect', async () => {
    const first = await connectDevice();
    await until('desired state', () => first.got.some((m) => m.topic.endsWith('/desired')));
    const state = first.got.find((m) => m.topic.endsWith('/desired'))!.body as DesiredState;
    expect(state.plays).toHaveLength(1);
    expect(state.plays[0]).toMatchObject({ contentId, url: `http://127.0.0.1:9/api/v1/content/${contentId}/file` });
    await first.client.endAsync();
    await until('offline', () => !core.mqtt.isOnline(device.id));
    // Presence is written to the store after the broker saw the disconnect (in order per device).
    await until('offline recorded', async () => (await core.devices.get(device.id))?.online === false);
    expect((await core.devices.get(device.id))?.online).toBe(false);

    const second = await connectDevice();
    await until('desired state again', () => second.got.some((m) => m.topic.endsWith('/desired')));
    expect((second.got.find((m) => m.topic.endsWith('/desired'))!.body as DesiredState).version).toBe(state.version);
    await until('online recorded', async () => (await core.devices.get(device.id))?.online === true);
    expect((await core.devices.presenceHistory(device.id)).map((p) => p.online)).toEqual([true, false, true]);
    await second.client.endAsync();
  });

  it('stores a resent report once and acknowledges every copy', async () => {
    const { client, got } = await connectDevice();
    const play = (await core.desired.refresh(device.id)).state.plays[0]!; // reports name a play the device was given
    const report: PlayReport = { v: 1, reportId: 'r-42', playId: play.playId, scheduleId: play.scheduleId, contentId, status: 'completed', scheduledAt: play.startAt, startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), playedMs: 4000 };
    for (let i = 0; i < 3; i++) await client.publishAsync(`loalang/v1/dev/${device.id}/report`, JSON.stringify(report), { qos: 1 });
    await until('three acks', () => got.filter((m) => m.topic.endsWith('/report/ack')).length === 3);
    expect(await core.reports.query({})).toHaveLength(1);
    expect((await core.reports.query({}))[0]).toMatchObject({ reportId: 'r-42', deviceId: device.id, status: 'completed' });
    await client.endAsync();
  });

  it('resends when the device reports an older version', async () => {
    const { client, got } = await connectDevice();
    await until('desired', () => got.some((m) => m.topic.endsWith('/desired')));
    const before = got.filter((m) => m.topic.endsWith('/desired')).length;
    await client.publishAsync(`loalang/v1/dev/${device.id}/reported`, JSON.stringify({ v: 1, version: 0, at: new Date().toISOString(), cachedContentIds: [], missingContentIds: [] }), { qos: 1 });
    await until('resent', () => got.filter((m) => m.topic.endsWith('/desired')).length > before);
    await client.endAsync();
  });
});

describe('device conditions', () => {
  it('stores raised and cleared conditions once each and knows which are active', async () => {
    const { client } = await connectDevice();
    const raise = { v: 1, eventId: 'e1', at: new Date().toISOString(), kind: 'amp-link', active: true };
    await client.publishAsync(`loalang/v1/dev/${device.id}/event`, JSON.stringify(raise), { qos: 1 });
    await client.publishAsync(`loalang/v1/dev/${device.id}/event`, JSON.stringify(raise), { qos: 1 });
    await until('raised', async () => (await core.events.active(device.id)).length === 1);
    expect(await core.events.list(device.id)).toHaveLength(1);
    const clear = { ...raise, eventId: 'e2', at: new Date(Date.now() + 1000).toISOString(), active: false };
    await client.publishAsync(`loalang/v1/dev/${device.id}/event`, JSON.stringify(clear), { qos: 1 });
    await until('cleared', async () => (await core.events.active(device.id)).length === 0);
    expect((await core.events.list(device.id)).map((e) => e.active)).toEqual([false, true]);
    await client.endAsync();
  });
});

describe('first start', () => {
  it('creates admin with a random password shown once, and only once', async () => {
    const d = mkdtempSync(join(tmpdir(), 'loalang-boot-'));
    const c = await ServerCore.create({ ...(await serverDatabase()), dataDir: d, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => '' });
    try {
      const first = await bootstrapAdmin(c, {});
      expect(first.created).toBe(true);
      expect(first.generatedPassword).toMatch(/^[A-Za-z0-9_-]{20}$/);
      expect(await c.users.authenticate('admin', first.generatedPassword!)).not.toBeNull();
      expect(await bootstrapAdmin(c, {})).toEqual({ created: false });
      const d2 = mkdtempSync(join(tmpdir(), 'loalang-boot-'));
      const c2 = await ServerCore.create({ ...(await serverDatabase()), dataDir: d2, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => '' });
      const fromEnv = await bootstrapAdmin(c2, { LOALANG_ADMIN_PASSWORD: 'province-secret-1' });
      expect(fromEnv.generatedPassword).toBeUndefined();
      expect(await c2.users.authenticate('admin', 'province-secret-1')).not.toBeNull();
      await c2.stop();
      rmSync(d2, { recursive: true, force: true });
    } finally {
      await c.stop();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
