/**
 * Attacks on the real server (SQLite, argon2 device secrets, Aedes ACL, the HTTP API): each is
 * refused with a clear answer, leaves the data as it was, and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { addUser, buildTestServer, login, untilWithin, type TestServer } from '@loalang/test-kit';

let t: TestServer;
let tokenA: string;
const dev = { a: { id: '', secret: '' }, b: { id: '', secret: '' } };

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  await t.core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
  for (const k of ['a', 'b'] as const) {
    const { device, secret } = await t.core.devices.create({ name: `Loa ${k}`, areaId: k });
    dev[k] = { id: device.id, secret };
  }
  await addUser(t.core, 'op-a', 'operator', 'a');
  tokenA = await login(t.app, 'op-a');
});
afterAll(async () => t?.close());

const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokenA}` } });
const mqttUrl = () => `mqtt://127.0.0.1:${t.core.mqttPort}`;
/** Devices in the store, counted in SQL (SQLite or PostgreSQL). */
const deviceCount = async () => Number((await t.core.database.selectFrom('devices').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
const connect = (opts: mqtt.IClientOptions) => mqtt.connectAsync(mqttUrl(), { reconnectPeriod: 0, connectTimeout: 3000, ...opts });

describe('HTTP', () => {
  it.each([
    '/api/v1/content/..%2F..%2F..%2Fetc%2Fpasswd/file',
    '/api/v1/content/%2e%2e/file',
    '/api/v1/content/..\\..\\loalang.db/file',
    '/api/v1/content/c%00.ogg/file',
  ])('path traversal %s is refused, never a file', async (url) => {
    const res = await get(url);
    expect([400, 404]).toContain(res.statusCode);
    expect(res.body).not.toContain('root:');
    expect(res.body).not.toContain('SQLite format');
    expect(res.json()).toMatchObject({ error: { code: expect.stringMatching(/^LOA_ERR_/), messageVi: expect.any(String) } });
  });

  it.each([
    ["/api/v1/devices?q=' OR 1=1 --", 200],
    ['/api/v1/devices?q=%25', 200],
    ["/api/v1/reports?deviceId=x' OR '1'='1", 400],
    ["/api/v1/alarms?kind=tamper' OR 1=1 --", 400],
    ["/api/v1/schedules?title=a'; DROP TABLE schedules; --", 200],
    ["/api/v1/reports?from=2026-01-01' OR 1=1", 400],
  ])('SQL-injection-shaped filter %s is taken literally or refused', async (url, status) => {
    const before = await deviceCount();
    const res = await get(url);
    expect(res.statusCode, res.body).toBe(status);
    if (status === 200) expect(res.json()).toEqual([]);
    expect(await deviceCount()).toBe(before);
    expect((await t.core.database.introspection.getTables()).map((table) => table.name)).toContain('schedules');
  });

  it('an operator of commune A cannot alert or schedule commune B; each attempt is audited', async () => {
    await t.core.users.create({ username: 'staff-a', password: 'mat-khau-dai-staff', role: 'alert-staff', areaId: 'a' });
    const staff = await login(t.app, 'staff-a', 'mat-khau-dai-staff');
    const alert = await t.app.inject({ method: 'POST', url: '/api/v1/alerts', headers: { authorization: `Bearer ${staff}` }, payload: { text: 'Giả mạo', targets: { areaIds: ['b'], deviceIds: [] } } });
    expect(alert.statusCode).toBe(403);
    const device = await t.app.inject({ method: 'POST', url: '/api/v1/alerts', headers: { authorization: `Bearer ${staff}` }, payload: { text: 'Giả mạo', targets: { areaIds: [], deviceIds: [dev.b.id] } } });
    expect(device.statusCode).toBe(403);
    // The audit entry is written once the answer is sent (onResponse), so the second one may land just after `inject` returns.
    const refusedByStaff = async () => (await t.core.audit.query({ action: 'POST /api/v1/alerts', limit: 10 })).filter((e) => e.username === 'staff-a' && e.status === 403);
    await untilWithin({ timeoutMs: 3000, intervalMs: 20 })('both refusals audited', async () => (await refusedByStaff()).length >= 2);
    expect(await refusedByStaff()).toHaveLength(2);
    expect(await t.core.alerts.repo.list(10)).toEqual([]);
  });
});

describe('MQTT', () => {
  it('refuses a wrong secret, a missing one, and another device\'s id as client id or username', async () => {
    await expect(connect({ clientId: dev.a.id, username: dev.a.id, password: 'guess' })).rejects.toThrow();
    await expect(connect({ clientId: dev.a.id, username: dev.a.id })).rejects.toThrow();
    await expect(connect({ clientId: dev.b.id, username: dev.a.id, password: dev.a.secret })).rejects.toThrow();
    await expect(connect({ clientId: dev.a.id, username: dev.b.id, password: dev.a.secret })).rejects.toThrow();
    expect(t.core.mqtt.stats().authFailures).toBeGreaterThanOrEqual(4);
  });

  it('refuses wildcard and cross-device subscriptions, and cuts a device publishing as another', async () => {
    const a = await connect({ clientId: dev.a.id, username: dev.a.id, password: dev.a.secret });
    // mqtt.js rejects a subscription the broker answered with 0x80 (refused).
    for (const filter of ['#', 'loalang/v1/#', 'loalang/v1/dev/+/cmd', `loalang/v1/dev/${dev.b.id}/#`, 'loalang/v1/area/+/alert', 'loalang/v1/area/b/alert', '$SYS/#']) {
      await expect(a.subscribeAsync(filter), filter).rejects.toThrow(/Subscribe error/);
    }
    for (const filter of [`loalang/v1/dev/${dev.a.id}/#`, 'loalang/v1/area/a/alert', 'loalang/v1/area/p/alert']) {
      expect((await a.subscribeAsync(filter))[0]?.qos, filter).toBe(0);
    }
    expect(t.core.mqtt.stats().refusedSubscribes).toBeGreaterThanOrEqual(7);
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    a.publish(`loalang/v1/dev/${dev.b.id}/report`, JSON.stringify({ v: 1 }), { qos: 1 });
    await closed;
    a.end(true);
    // The server keeps serving the honest device.
    const b = await connect({ clientId: dev.b.id, username: dev.b.id, password: dev.b.secret });
    expect(b.connected).toBe(true);
    await b.endAsync();
  });
});
