/** The audit log: every change through the API, refusals and logins, append-only, for admins in scope. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@loalang/test-kit';
import { addUser, buildTestServer, login, PASSWORD, type TestServer } from './helpers.js';

let t: TestServer;
let adminA: string;
let adminRoot: string;
let operatorA: string;

interface Entry { action: string; username: string | null; source: string | null; status: number | null; target: string | null; detail: Record<string, unknown> | null; at: string }

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  await t.core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
  await addUser(t.core, 'admin-p', 'admin', 'p');
  await addUser(t.core, 'admin-a', 'admin', 'a');
  await addUser(t.core, 'op-a', 'operator', 'a');
  adminRoot = await login(t.app, 'admin-p');
  adminA = await login(t.app, 'admin-a');
  operatorA = await login(t.app, 'op-a');
});
afterAll(async () => t?.close());

const call = (token: string, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: Record<string, unknown>) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
const audit = async (token: string, query = '') => (await call(token, 'GET', `/api/v1/audit${query}`)).json() as Entry[];

describe('audit log', () => {
  it("dates its entries by the server's clock (a node of a cluster keeps the database's), not the machine's", async () => {
    const clock = new ManualClock(Date.parse('2031-03-08T01:02:03.456Z'));
    const other = await buildTestServer({ clock });
    try {
      await other.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'q' });
      await addUser(other.core, 'admin-x', 'admin', 'q');
      const token = await login(other.app, 'admin-x');
      clock.advance(60_000);
      const created = await other.app.inject({ method: 'POST', url: '/api/v1/areas', headers: { authorization: `Bearer ${token}` }, payload: { name: 'Xã mới', parentId: 'q' } });
      expect(created.statusCode).toBe(201);
      const entries = (await other.app.inject({ method: 'GET', url: '/api/v1/audit', headers: { authorization: `Bearer ${token}` } })).json() as Entry[];
      expect(entries.find((e) => e.action === 'login')?.at).toBe('2031-03-08T01:02:03.456Z');
      expect(entries.find((e) => e.action === 'POST /api/v1/areas')?.at).toBe('2031-03-08T01:03:03.456Z');
    } finally {
      await other.close();
    }
  });

  it('records changes with user, source address, target and outcome, masking secrets; refusals too', async () => {
    const created = await call(adminA, 'POST', '/api/v1/users', { username: 'moi', password: 'mat-khau-rat-dai-1', role: 'viewer', areaId: 'a' });
    expect(created.statusCode).toBe(201);
    const refused = await call(operatorA, 'PATCH', '/api/v1/areas/b', { name: 'Xã của tôi' });
    expect(refused.statusCode).toBe(403);
    const entries = await audit(adminRoot);
    const add = entries.find((e) => e.action === 'POST /api/v1/users')!;
    expect(add).toMatchObject({ username: 'admin-a', source: '127.0.0.1', status: 201 });
    expect(add.detail).toMatchObject({ username: 'moi', password: '***' });
    expect(entries.find((e) => e.action === 'PATCH /api/v1/areas/:id')).toMatchObject({ username: 'op-a', target: 'b', status: 403 });
    expect(JSON.stringify(entries)).not.toContain('mat-khau-rat-dai-1');
  });

  it('records logins and failed logins with the username tried', async () => {
    await login(t.app, 'op-a');
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'op-a', password: 'wrong-password' } });
    expect(bad.statusCode).toBe(401);
    const entries = await audit(adminRoot, '?action=login');
    expect(entries[0]).toMatchObject({ action: 'login-failed', username: null, status: 401, detail: { username: 'op-a' } });
    expect(entries.some((e) => e.action === 'login' && e.username === 'op-a')).toBe(true);
    expect(JSON.stringify(entries)).not.toContain('wrong-password');
    expect(JSON.stringify(entries)).not.toContain(PASSWORD);
  });

  it('filters by action prefix, user and time; an area admin sees only their users', async () => {
    const root = await audit(adminRoot, '?action=POST%20/api/v1/users');
    expect(root.every((e) => e.action === 'POST /api/v1/users')).toBe(true);
    const later = await audit(adminRoot, `?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(later).toEqual([]);
    // A wildcard in the filter is taken literally.
    expect(await audit(adminRoot, '?action=%25')).toEqual([]);
    await call(adminRoot, 'PATCH', '/api/v1/areas/b', { name: 'Xã B mới' });
    const seenByA = await audit(adminA);
    expect(seenByA.some((e) => e.username === 'admin-p')).toBe(false);
    expect(seenByA.some((e) => e.username === 'op-a')).toBe(true);
  });

  it('is for admins only, and cannot be changed or deleted', async () => {
    expect((await call(operatorA, 'GET', '/api/v1/audit')).statusCode).toBe(403);
    await expect(t.core.database.updateTable('audit_log').set({ action: 'x' }).execute()).rejects.toThrow(/append-only/);
    await expect(t.core.database.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
  });
});

describe('device secret rotation', () => {
  it('cuts the device off at once, refuses the old secret and accepts the new one; audited without the secret', async () => {
    const { default: mqtt } = await import('mqtt');
    const created = (await call(adminA, 'POST', '/api/v1/devices', { name: 'Loa xoay khóa', areaId: 'a' })).json() as { id: string; mqttPassword: string };
    const id = created.id;
    const url = `mqtt://127.0.0.1:${t.core.mqttPort}`;
    const connect = (password: string) => mqtt.connectAsync(url, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 3000 });
    const first = await connect(created.mqttPassword);
    const cut = new Promise<void>((r) => first.once('close', () => r()));
    const rotated = await call(adminA, 'POST', `/api/v1/devices/${id}/rotate-secret`);
    expect(rotated.statusCode).toBe(200);
    const { mqttPassword } = rotated.json() as { mqttPassword: string };
    await cut;
    first.end(true);
    await expect(connect(created.mqttPassword)).rejects.toThrow();
    const again = await connect(mqttPassword);
    expect(again.connected).toBe(true);
    await again.endAsync();
    const entries = await audit(adminA, '?action=POST%20/api/v1/devices/:id/rotate-secret');
    expect(entries[0]).toMatchObject({ username: 'admin-a', target: id, status: 200 });
    expect(JSON.stringify(await audit(adminRoot))).not.toContain(mqttPassword);
  });
});
