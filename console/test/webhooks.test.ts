/**
 * Webhooks for integrators (issue 21 item 5), through the API and a real HTTP receiver on
 * loopback: each of the four events reaches a subscription that wants it, in its area subtree
 * only, signed with its secret (and with the new one after a rotation); an event it did not
 * choose is not sent; a receiver that is down (refusing connections, or answering 503) gets the
 * event once when it is back, the attempts in the delivery log; a delivery given up is failed,
 * and sent again by hand; a service account's key may not manage webhooks. Real time, with the
 * retries shortened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { PlayReport } from '@loalang/protocol';
import { untilWithin } from '@loalang/test-kit';
import { verifySignature } from '../../broker/src/outbox/signature.js';
import type { Webhook, WebhookDelivery, WebhookSecret } from '../src/responses/index.js';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

type Got = { headers: IncomingHttpHeaders; body: string; json: { id: string; event: string; at: string; areaId: string; data: Record<string, unknown> } };

/** A receiving system: records every POST, answers `status()`; can stop listening and start again on its port. */
class Receiver {
  readonly got: Got[] = [];
  status: () => number = () => 200;
  private server: Server | null = null;
  port = 0;

  async listen(port = this.port): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = this.status();
        if (status < 300) this.got.push({ headers: req.headers, body, json: JSON.parse(body) as Got['json'] });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  of(event: string): Got[] {
    return this.got.filter((g) => g.json.event === event);
  }
}

const until = untilWithin({ timeoutMs: 10_000, intervalMs: 25 });
const GIVE_UP_MS = 2500;

describe('webhooks over the API', () => {
  let t: TestServer;
  let adminRoot: string;
  let adminA: string;
  let operatorA: string;
  const device: Record<string, { id: string; secret: string }> = {};
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await new Receiver().listen();
    receivers.push(r);
    return r;
  };

  const call = (token: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  const subscribe = async (token: string, body: Record<string, unknown>) => {
    const res = await call(token, 'POST', '/webhooks', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as WebhookSecret;
  };
  const deliveries = async (token: string, webhookId: string) => {
    const res = await call(token, 'GET', `/webhooks/${webhookId}/deliveries`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as WebhookDelivery[];
  };
  const connect = async (name: string): Promise<MqttClient> => {
    const { id, secret } = device[name]!;
    const client = mqtt.connect(`mqtt://127.0.0.1:${t.core.mqttPort}`, { clientId: id, username: id, password: secret, clean: true, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(`loalang/v1/dev/${id}/#`, { qos: 1 });
    return client;
  };

  beforeAll(async () => {
    t = await buildTestServer({ core: { webhookDelivery: { giveUpAfterMs: GIVE_UP_MS }, outbox: { baseMs: 100, maxMs: 400, pollMs: 200 } } });
    const { core } = t;
    await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
    await core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
    await core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
    for (const area of ['a', 'b']) {
      const made = await core.devices.create({ name: `Loa ${area}`, areaId: area });
      device[area] = { id: made.device.id, secret: made.secret };
    }
    await core.content.insert({ id: 'c1', title: 'Tin', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'b'.repeat(64), sizeBytes: 1, durationMs: 4000, source: {}, createdBy: null });
    await addUser(core, 'admin-root', 'admin', 'p');
    await addUser(core, 'admin-a', 'admin', 'a');
    await addUser(core, 'op-a', 'operator', 'a');
    [adminRoot, adminA, operatorA] = await Promise.all([login(t.app, 'admin-root'), login(t.app, 'admin-a'), login(t.app, 'op-a')]);
  }, 30_000);
  afterAll(async () => {
    await t?.close();
    for (const r of receivers) await r.close();
  });

  it('sends each of the four events, signed, to the subscriptions that want it in their areas only', async () => {
    const [inA, inB, offlineOnly] = [await receiver(), await receiver(), await receiver()];
    const all = ['schedule.approved', 'play.reported', 'alert.delivered', 'device.offline'];
    const a = await subscribe(adminA, { name: 'Hệ thống xã A', url: inA.url, events: all, areaId: 'a' });
    expect(a.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(a.webhook).toMatchObject({ name: 'Hệ thống xã A', url: inA.url, events: all, areaId: 'a', active: true });
    await subscribe(adminRoot, { name: 'Xã B', url: inB.url, events: all, areaId: 'b' });
    const p = await subscribe(adminRoot, { name: 'Tỉnh: chỉ mất kết nối', url: offlineOnly.url, events: ['device.offline'], areaId: 'p' });
    // The secret is never shown again.
    const listed = await call(adminA, 'GET', '/webhooks');
    expect((listed.json() as Webhook[]).map((w) => w.name)).toEqual(['Hệ thống xã A']);
    expect(listed.body).not.toContain(a.secret);
    expect((await call(adminA, 'GET', `/webhooks/${a.webhook.id}`)).body).not.toContain(a.secret);

    // schedule.approved: saved by an admin of the area, approved on save.
    const start = new Date(Date.now() + 3600_000).toISOString();
    const schedule = await call(adminA, 'POST', '/schedules', { title: 'Tin sáng', items: [{ contentId: 'c1' }], targets: { areaIds: ['a'], deviceIds: [] }, start, areaId: 'a' });
    expect(schedule.statusCode, schedule.body).toBe(201);
    const scheduleId = (schedule.json() as { id: string }).id;
    await until('schedule.approved at A', () => inA.of('schedule.approved').length === 1);
    const approved = inA.of('schedule.approved')[0]!;
    expect(approved.json).toMatchObject({ event: 'schedule.approved', areaId: 'a', data: { scheduleId, title: 'Tin sáng' } });
    expect(approved.json.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(approved.headers['content-type']).toBe('application/json');
    expect(approved.headers['x-loalang-event']).toBe('schedule.approved');
    expect(approved.headers['x-loalang-delivery']).toBeTruthy();
    expect(approved.headers['idempotency-key']).toBe(approved.headers['x-loalang-delivery']);
    const signature = approved.headers['x-loalang-signature'] as string;
    expect(verifySignature(a.secret, approved.body, signature, Date.now())).toBe(true);
    expect(verifySignature(p.secret, approved.body, signature, Date.now())).toBe(false);
    expect(verifySignature(a.secret, approved.body.replace('Tin sáng', 'Tin giả'), signature, Date.now())).toBe(false);

    // play.reported: the speaker of A reports a play it was given (twice: stored once, sent once).
    const client = await connect('a');
    const play = (await t.core.desired.refresh(device['a']!.id)).state.plays[0]!;
    const report: PlayReport = { v: 1, reportId: 'r-1', playId: play.playId, scheduleId: play.scheduleId, contentId: 'c1', status: 'completed', scheduledAt: play.startAt, startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), playedMs: 4000 };
    for (let i = 0; i < 2; i++) await client.publishAsync(`loalang/v1/dev/${device['a']!.id}/report`, JSON.stringify(report), { qos: 1 });
    await until('play.reported at A', () => inA.of('play.reported').length === 1);
    expect(inA.of('play.reported')[0]!.json).toMatchObject({ areaId: 'a', data: { deviceId: device['a']!.id, reportId: 'r-1', scheduleId, status: 'completed', playedMs: 4000 } });

    // device.offline: the speaker disconnects; the province's offline-only subscription hears of it too.
    await client.endAsync();
    await until('device.offline at A', () => inA.of('device.offline').length === 1);
    await until('device.offline at the province', () => offlineOnly.of('device.offline').length === 1);
    expect(inA.of('device.offline')[0]!.json).toMatchObject({ areaId: 'a', data: { deviceId: device['a']!.id, deviceName: 'Loa a' } });
    expect(offlineOnly.of('device.offline')[0]!.json.id).toBe(inA.of('device.offline')[0]!.json.id);
    expect(verifySignature(p.secret, offlineOnly.got[0]!.body, offlineOnly.got[0]!.headers['x-loalang-signature'] as string, Date.now())).toBe(true);

    // alert.delivered: an alert to A's (offline) speaker, cancelled: its delivery's outcome.
    const alert = await call(adminA, 'POST', '/alerts', { title: 'Bão', contentId: 'c1', targets: { areaIds: ['a'], deviceIds: [] } });
    expect(alert.statusCode, alert.body).toBe(201);
    const alertId = (alert.json() as { id: string }).id;
    expect((await call(adminA, 'POST', `/alerts/${alertId}/cancel`)).statusCode).toBe(200);
    await until('alert.delivered at A', () => inA.of('alert.delivered').length === 1);
    expect(inA.of('alert.delivered')[0]!.json).toMatchObject({ areaId: 'a', data: { alertId, deviceId: device['a']!.id, state: 'cancelled' } });

    // Nothing of A reached B; the province's subscription got only the event it chose.
    await new Promise((r) => setTimeout(r, 300));
    expect(inB.got).toEqual([]);
    expect(offlineOnly.got.map((g) => g.json.event)).toEqual(['device.offline']);
    expect(inA.got.map((g) => g.json.event).sort()).toEqual(['alert.delivered', 'device.offline', 'play.reported', 'schedule.approved']);
    // The delivery log: one delivered message per event, one attempt each.
    const log = await deliveries(adminA, a.webhook.id);
    expect(log.map((d) => [d.event, d.state, d.attempts, d.lastStatus])).toEqual(
      expect.arrayContaining(['schedule.approved', 'play.reported', 'device.offline', 'alert.delivered'].map((e) => [e, 'delivered', 1, 200])),
    );
    expect(log).toHaveLength(4);
    // What other nodes of a cluster relay (their deliveries, their devices) only feeds the live views: the node where it happened enqueued it.
    t.core.live.emit('delivery', { alertId: 'alert-of-another-node', deviceId: device['a']!.id, state: 'finished', reason: null, played: 1, startedAt: null, updatedAt: new Date().toISOString() });
    t.core.live.emit('device', device['a']!.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(await deliveries(adminA, a.webhook.id)).toHaveLength(4);
  });

  it('a receiver down then up gets the event once, the attempts in the log; rotation signs with the new secret', async () => {
    const r = await receiver();
    const port = r.port;
    await r.close(); // connection refused
    const made = await subscribe(adminA, { name: 'Tạm ngừng', url: r.url, events: ['device.offline'], areaId: 'a' });
    const ping = await call(adminA, 'POST', `/webhooks/${made.webhook.id}/ping`);
    expect(ping.statusCode, ping.body).toBe(202);
    const pingId = (ping.json() as WebhookDelivery).id;
    await until('two refused attempts', async () => ((await deliveries(adminA, made.webhook.id))[0]?.attempts ?? 0) >= 2);
    const refused = (await deliveries(adminA, made.webhook.id))[0]!;
    expect(refused).toMatchObject({ id: pingId, event: 'webhook.ping', state: 'pending', lastStatus: null });
    expect(refused.lastError).toBeTruthy();
    // Up again, first answering 503 twice.
    let answered = 0;
    r.status = () => (++answered <= 2 ? 503 : 200);
    await r.listen(port);
    await until('delivered', async () => (await deliveries(adminA, made.webhook.id))[0]?.state === 'delivered');
    const done = (await deliveries(adminA, made.webhook.id))[0]!;
    expect(done.attempts).toBeGreaterThanOrEqual(refused.attempts + 3);
    expect(done.lastStatus).toBe(200);
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.json).toMatchObject({ event: 'webhook.ping', areaId: 'a', data: { webhookId: made.webhook.id } });
    expect(verifySignature(made.secret, r.got[0]!.body, r.got[0]!.headers['x-loalang-signature'] as string, Date.now())).toBe(true);

    const rotated = await call(adminA, 'POST', `/webhooks/${made.webhook.id}/rotate-secret`);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const secret = (rotated.json() as WebhookSecret).secret;
    expect(secret).not.toBe(made.secret);
    expect((await call(adminA, 'POST', `/webhooks/${made.webhook.id}/ping`)).statusCode).toBe(202);
    await until('second ping', () => r.got.length === 2);
    const header = r.got[1]!.headers['x-loalang-signature'] as string;
    expect(verifySignature(secret, r.got[1]!.body, header, Date.now())).toBe(true);
    expect(verifySignature(made.secret, r.got[1]!.body, header, Date.now())).toBe(false);
  });

  it('gives a delivery up as failed; sent again by hand it is delivered', async () => {
    const r = await receiver();
    r.status = () => 503;
    const made = await subscribe(adminA, { name: 'Luôn lỗi', url: r.url, events: ['schedule.approved'], areaId: 'a' });
    await call(adminA, 'POST', `/webhooks/${made.webhook.id}/ping`);
    await until('failed', async () => (await deliveries(adminA, made.webhook.id))[0]?.state === 'failed');
    const failed = (await deliveries(adminA, made.webhook.id))[0]!;
    expect(failed.attempts).toBeGreaterThanOrEqual(2);
    expect(failed.lastStatus).toBe(503);
    // Only a failed or dropped delivery is sent again.
    const other = await subscribe(adminA, { name: 'Khác', url: r.url, events: ['schedule.approved'], areaId: 'a' });
    const pending = (await call(adminA, 'POST', `/webhooks/${other.webhook.id}/ping`)).json() as WebhookDelivery;
    expect((await call(adminA, 'POST', `/webhooks/deliveries/${pending.id}/retry`)).statusCode).toBe(409);
    r.status = () => 200;
    const again = await call(adminA, 'POST', `/webhooks/deliveries/${failed.id}/retry`);
    expect(again.statusCode, again.body).toBe(202);
    await until('delivered', async () => (await deliveries(adminA, made.webhook.id))[0]?.state === 'delivered');
    expect(r.got.filter((g) => g.json.data['webhookId'] === made.webhook.id)).toHaveLength(1);
    // Audited: create, ping, retry.
    const audit = await call(adminRoot, 'GET', '/audit?limit=200');
    const actions = (audit.json() as { action: string; target: string | null }[]).map((e) => `${e.action} ${e.target ?? ''}`);
    expect(actions).toContain(`POST /api/v1/webhooks/deliveries/:deliveryId/retry ${failed.id}`);
    expect(actions).toContain(`POST /api/v1/webhooks/:id/rotate-secret ${(await call(adminA, 'GET', '/webhooks')).json<Webhook[]>().find((w) => w.name === 'Tạm ngừng')!.id}`);
  });

  it('keeps webhooks to admins in their areas; a service account key may not manage them', async () => {
    expect((await call(operatorA, 'GET', '/webhooks')).statusCode).toBe(403);
    expect((await call(operatorA, 'POST', '/webhooks', { name: 'x', url: 'https://example.org/h', events: ['device.offline'], areaId: 'a' })).statusCode).toBe(403);
    expect((await call(adminA, 'POST', '/webhooks', { name: 'x', url: 'https://example.org/h', events: ['device.offline'], areaId: 'b' })).statusCode).toBe(403);
    const bad = await call(adminA, 'POST', '/webhooks', { name: 'x', url: 'ftp://example.org/h', events: ['device.offline'], areaId: 'a' });
    expect(bad.statusCode).toBe(400);
    expect((await call(adminA, 'POST', '/webhooks', { name: 'x', url: 'https://example.org/h', events: ['nothing'], areaId: 'a' })).statusCode).toBe(400);
    const root = await subscribe(adminRoot, { name: 'Tỉnh', url: 'https://example.org/h', events: ['device.offline'], areaId: 'p' });
    expect((await call(adminA, 'GET', `/webhooks/${root.webhook.id}`)).statusCode).toBe(403);
    expect((await call(adminA, 'DELETE', `/webhooks/${root.webhook.id}`)).statusCode).toBe(403);

    const sa = await call(adminRoot, 'POST', '/service-accounts', { name: 'tich-hop', role: 'admin', areaId: 'p' });
    expect(sa.statusCode, sa.body).toBe(201);
    const key = (sa.json() as { key: string }).key;
    expect((await call(key, 'GET', '/webhooks')).statusCode).toBe(403);
    expect((await call(key, 'POST', '/webhooks', { name: 'x', url: 'https://example.org/h', events: ['device.offline'], areaId: 'p' })).statusCode).toBe(403);
    expect((await call(key, 'POST', `/webhooks/${root.webhook.id}/rotate-secret`)).statusCode).toBe(403);
    expect((await call(key, 'GET', `/webhooks/${root.webhook.id}/deliveries`)).statusCode).toBe(403);

    // Changed, then deleted: gone from the list.
    const patched = await call(adminRoot, 'PATCH', `/webhooks/${root.webhook.id}`, { active: false, events: ['device.offline', 'play.reported'] });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ active: false, events: ['device.offline', 'play.reported'] });
    expect((await call(adminRoot, 'POST', `/webhooks/${root.webhook.id}/ping`)).statusCode).toBe(409);
    expect((await call(adminRoot, 'DELETE', `/webhooks/${root.webhook.id}`)).statusCode).toBe(204);
    expect((await call(adminRoot, 'GET', `/webhooks/${root.webhook.id}`)).statusCode).toBe(404);
  });
});
