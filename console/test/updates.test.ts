/**
 * Fleet updates over the API (issue 20), on a real server: a technician uploads a bundle made by
 * `loalang release pack` (refused unless signed by a key the server was given), rolls it out to
 * an area in waves; a speaker (a real MQTT client with its own credentials) receives the signed
 * offer on its topic, fetches the bundle with Range, reports each step; the next wave follows its
 * confirmation. The technician's live stream carries the rollout as it moves; each speaker's
 * update state is read per device. Roles and areas are enforced; every action is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { deviceTopic, newSigningKey, type UpdateOffer } from '@loalang/protocol';
import { packRelease } from '../../cli/src/release/pack.js';
import type { AddressInfo } from 'node:net';
import { readEvents } from '@loalang/test-kit';
import { addUser, buildTestServer, login, multipartBody, type TestServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const key = newSigningKey();

describe('fleet updates over the API', () => {
  let t: TestServer;
  let dir: string;
  let bundle: Buffer;
  let tech: string;
  let base = '';
  const devices: { id: string; secret: string }[] = [];
  const clients: mqtt.MqttClient[] = [];
  const offers = new Map<string, UpdateOffer[]>();

  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const upload = (data: Buffer, token = tech) => {
    const body = multipartBody('agent.tar.gz', data);
    return t.app.inject({ method: 'POST', url: '/api/v1/releases', payload: body.payload, headers: { ...body.headers, ...as(token) } });
  };
  const basic = (d: { id: string; secret: string }) => ({ authorization: `Basic ${Buffer.from(`${d.id}:${d.secret}`).toString('base64')}` });
  const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-updates-api-'));
    await packRelease({ root: ROOT, version: '9.0.0', arch: process.arch as 'x64', privateKeyPem: key.privateKeyPem, out: join(dir, 'a.tar.gz') });
    bundle = readFileSync(join(dir, 'a.tar.gz'));
    t = await buildTestServer({ releaseKeys: [{ kid: key.kid, publicKey: key.publicKey }] });
    // Listening too: the live stream (GET /events) is read over real HTTP.
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/api/v1`;
    const { core } = t;
    await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
    await core.areas.create({ name: 'Xã Hải An', parentId: 'p', id: 'xa' });
    await core.areas.create({ name: 'Xã Hải Ba', parentId: 'p', id: 'xb' });
    for (let i = 0; i < 3; i++) {
      const { device, secret } = await core.devices.create({ name: `Loa ${i}`, areaId: 'xa' });
      devices.push({ id: device.id, secret });
    }
    await addUser(core, 'ky-thuat', 'technician', 'xa');
    await addUser(core, 'ky-thuat-b', 'technician', 'xb');
    await addUser(core, 'van-hanh', 'operator', 'xa');
    tech = await login(t.app, 'ky-thuat');
    // The speakers, online: each listens on its own topics as an agent does.
    for (const d of devices) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0 });
      clients.push(client);
      client.on('message', (_topic, payload) => {
        const envelope = JSON.parse(payload.toString()) as { kind: string; body: UpdateOffer };
        if (envelope.kind === 'update') offers.set(d.id, [...(offers.get(d.id) ?? []), envelope.body]);
      });
      await client.subscribeAsync(`loalang/v1/dev/${d.id}/#`, { qos: 1 });
    }
    await until('speakers online', () => devices.every((d) => core.mqtt.isOnline(d.id)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a signed bundle once; refuses one signed by another key, a second copy, garbage, and an operator', async () => {
    const res = await upload(bundle);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ version: '9.0.0', arch: process.arch, signedBy: key.kid, sizeBytes: bundle.length });
    expect((await upload(bundle)).statusCode).toBe(409);
    const stranger = newSigningKey();
    await packRelease({ root: ROOT, version: '9.0.1', arch: process.arch as 'x64', privateKeyPem: stranger.privateKeyPem, out: join(dir, 'b.tar.gz') });
    const refused = await upload(readFileSync(join(dir, 'b.tar.gz')));
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'LOA_ERR_INVALID', message: expect.stringContaining('not signed by a release key this server knows') } });
    expect((await upload(Buffer.from('not a bundle'))).json()).toMatchObject({ error: { message: expect.stringContaining('not a release bundle') } });
    expect((await upload(bundle, await login(t.app, 'van-hanh'))).statusCode).toBe(403);
    const list = (await t.app.inject({ method: 'GET', url: '/api/v1/releases', headers: as(tech) })).json() as { releases: { version: string; uploadedByName: string }[]; keys: { kid: string }[] };
    expect(list.releases.map((r) => [r.version, r.uploadedByName])).toEqual([['9.0.0', 'ky-thuat']]);
    expect(list.keys).toEqual([{ kid: key.kid, publicKey: key.publicKey }]);
  }, 60_000);

  it('rolls out in waves: the first speaker gets the signed offer, fetches the bundle, confirms; then the rest', async () => {
    const release = ((await t.app.inject({ method: 'GET', url: '/api/v1/releases', headers: as(tech) })).json() as { releases: { id: string; sha256: string }[] }).releases[0]!;
    // Another area's technician cannot target this one.
    const other = await login(t.app, 'ky-thuat-b');
    // The live streams: the technician's carries the rollout as it moves; another area's and an operator's do not.
    const streams = { mine: readEvents(`${base}/events`, tech), theirs: readEvents(`${base}/events`, other), operator: readEvents(`${base}/events`, await login(t.app, 'van-hanh')) };
    await until('streams open', () => Object.values(streams).every((s) => s.events[0]?.event === 'hello'));
    type Seen = { id: string; state: string; wave: number };
    const seen = (s: { events: { event: string; data: unknown }[] }) => s.events.filter((e) => e.event === 'rollout').map((e) => e.data as Seen);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/rollouts', headers: as(other), payload: { releaseId: release.id, targets: { areaIds: ['xa'], deviceIds: [] } } })).statusCode).toBe(403);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/rollouts', headers: as(tech), payload: { releaseId: release.id, targets: { areaIds: ['xa'], deviceIds: [] }, waves: [33, 100], failureThreshold: 0.5 } });
    expect(res.statusCode, res.body).toBe(201);
    const rollout = res.json() as { id: string; state: string };
    await until('an offer', () => offers.size === 1);
    const [firstId, [offer]] = [...offers.entries()][0]!;
    expect(offer).toMatchObject({ type: 'offer', rolloutId: rollout.id, version: '9.0.0', sha256: release.sha256, size: bundle.length, confirmWithinMs: 300_000 });
    const first = devices.find((d) => d.id === firstId)!;
    // The bundle, for the device the rollout offered it to: whole, and resumed from a byte.
    const whole = await t.app.inject({ method: 'GET', url: `/api/v1/releases/${release.id}/file`, headers: basic(first) });
    expect(whole.statusCode).toBe(200);
    expect(whole.rawPayload.equals(bundle)).toBe(true);
    const rest = await t.app.inject({ method: 'GET', url: `/api/v1/releases/${release.id}/file`, headers: { ...basic(first), range: 'bytes=1000-' } });
    expect(rest.statusCode).toBe(206);
    expect(rest.rawPayload.equals(bundle.subarray(1000))).toBe(true);
    // A speaker not offered it yet, and a wrong secret, are refused.
    const notYet = devices.find((d) => d.id !== firstId)!;
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/releases/${release.id}/file`, headers: basic(notYet) })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/releases/${release.id}/file`, headers: basic({ id: first.id, secret: 'wrong' }) })).statusCode).toBe(401);
    // It reports its steps on its own topic; confirmed, the next wave gets it.
    const client = clients[devices.indexOf(first)]!;
    for (const state of ['downloading', 'verified', 'installed', 'confirmed']) {
      await client.publishAsync(deviceTopic(first.id, 'update/status'), JSON.stringify({ v: 1, rolloutId: rollout.id, version: '9.0.0', state, running: state === 'confirmed' ? '9.0.0' : '0.1.0', at: new Date().toISOString() }), { qos: 1 });
    }
    await until('the second wave', () => offers.size === 3);
    const view = (await t.app.inject({ method: 'GET', url: `/api/v1/rollouts/${rollout.id}`, headers: as(tech) })).json() as { state: string; wave: number; totals: Record<string, number>; devices: { deviceId: string; state: string }[] };
    expect(view).toMatchObject({ state: 'running', wave: 1, totals: { confirmed: 1, offered: 2 } });
    await until('the second wave in the stream', () => seen(streams.mine).some((r) => r.id === rollout.id && r.wave === 1));
    expect(seen(streams.mine)[0]).toMatchObject({ id: rollout.id, state: 'running', releaseId: release.id });
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('loalang_update_devices{state="confirmed"} 1');
    expect(metrics).toContain('loalang_update_devices{state="offered"} 2');
    // Pause, resume, cancel; the other area's technician sees nothing of it.
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/rollouts/${rollout.id}`, headers: as(other) })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/rollouts/${rollout.id}/pause`, headers: as(tech) })).json()).toMatchObject({ state: 'paused' });
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/rollouts/${rollout.id}/resume`, headers: as(tech) })).json()).toMatchObject({ state: 'running' });
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/rollouts/${rollout.id}/cancel`, headers: as(tech) })).json()).toMatchObject({ state: 'cancelled' });
    await until('withdrawals', () => [...offers.values()].filter((list) => list.some((o) => o.type === 'withdraw')).length === 2);
    await until('the cancel in the stream', () => seen(streams.mine).at(-1)?.state === 'cancelled');
    expect(seen(streams.theirs)).toEqual([]);
    expect(seen(streams.operator)).toEqual([]);
    for (const s of Object.values(streams)) s.close();
    // Each speaker's page: the version it brought, and where each speaker got to.
    const updateOf = async (id: string, token = tech) => t.app.inject({ method: 'GET', url: `/api/v1/devices/${id}/update`, headers: as(token) });
    expect((await updateOf(first.id)).json()).toMatchObject({ deviceId: first.id, update: { rolloutId: rollout.id, rolloutState: 'cancelled', releaseId: release.id, version: '9.0.0', wave: 0, state: 'confirmed', reason: null } });
    expect((await updateOf(notYet.id)).json()).toMatchObject({ update: { rolloutId: rollout.id, wave: 1, state: 'withdrawn', reason: 'rollout cancelled' } });
    expect((await updateOf(first.id, other)).statusCode).toBe(403);
    expect((await updateOf(first.id, await login(t.app, 'van-hanh'))).statusCode).toBe(403);
    const { device: never } = await t.core.devices.create({ name: 'Loa Hải Ba', areaId: 'xb' });
    expect((await updateOf(never.id, other)).json()).toEqual({ deviceId: never.id, agentVersion: null, update: null });
    // Audited: who started, paused, resumed and cancelled it, and the refused attempt from another area.
    // The audit hook writes once the answer has gone: read until the last one is in.
    const audited = () => t.core.audit.query({ action: 'POST /api/v1/rollouts', limit: 50 });
    await expect.poll(async () => (await audited()).map((e) => [e.username, e.action, e.status]), { timeout: 5000 }).toEqual(
      expect.arrayContaining([
        ['ky-thuat', 'POST /api/v1/rollouts', 201],
        ['ky-thuat-b', 'POST /api/v1/rollouts', 403],
        ['ky-thuat', 'POST /api/v1/rollouts/:id/pause', 200],
        ['ky-thuat', 'POST /api/v1/rollouts/:id/resume', 200],
        ['ky-thuat', 'POST /api/v1/rollouts/:id/cancel', 200],
      ]),
    );
    await expect.poll(async () => (await t.core.audit.query({ action: 'POST /api/v1/releases', limit: 50 })).map((e) => e.status), { timeout: 5000 }).toEqual(expect.arrayContaining([201, 409, 400, 403]));
  }, 60_000);
});
