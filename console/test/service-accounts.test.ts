/**
 * Service accounts over the API (issue 21): an admin makes a key for a machine within their
 * areas; the key, shown once, acts with its role over its area wherever a session token does
 * (Bearer or X-API-Key), every permission and area check unchanged, but never manages users or
 * keys; rotation stops the old key at once; revoked and expired keys are refused with 401 saying
 * why, in both languages; a key over its rate limit gets 429 with Retry-After; its changes are in
 * the audit log under `sa:<name>`. The server runs on a manual clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '@loalang/test-kit';
import type { ServiceAccount, ServiceAccountKey } from '../src/responses/index.js';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

type Entry = { action: string; userId: string | null; username: string | null; areaId: string | null; target: string | null; status: number; detail: Record<string, unknown> | null };

describe('service accounts over the API', () => {
  let t: TestServer;
  const clock = new ManualClock(Date.parse('2026-11-29T09:00:00Z'));
  let adminRoot: string;
  let adminA: string;
  let operatorA: string;
  const devices: Record<string, string> = {};

  const call = (auth: Record<string, string>, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({ method, url: `/api/v1${url}`, headers: auth, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const make = async (token: string, body: Record<string, unknown>) => {
    const res = await call(bearer(token), 'POST', '/service-accounts', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as ServiceAccountKey;
  };

  beforeAll(async () => {
    t = await buildTestServer({ clock });
    const { core } = t;
    await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
    await core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
    await core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
    for (const area of ['a', 'b']) devices[area] = (await core.devices.create({ name: `Loa ${area}`, areaId: area })).device.id;
    await addUser(core, 'admin-root', 'admin', 'p');
    await addUser(core, 'admin-a', 'admin', 'a');
    await addUser(core, 'op-a', 'operator', 'a');
    [adminRoot, adminA, operatorA] = await Promise.all([login(t.app, 'admin-root'), login(t.app, 'admin-a'), login(t.app, 'op-a')]);
  }, 30_000);
  afterAll(async () => t?.close());

  it('creates a key shown once; it reads devices within its area only, as Bearer or X-API-Key', async () => {
    const { account, key } = await make(adminA, { name: 'dashboard-a', role: 'viewer', areaId: 'a', description: 'Bảng theo dõi xã A' });
    expect(account).toMatchObject({ name: 'dashboard-a', role: 'viewer', areaId: 'a', state: 'active', prefix: key.slice(7, 17) });
    const list = await call(bearer(key), 'GET', '/devices');
    expect(list.statusCode, list.body).toBe(200);
    expect((list.json() as { id: string }[]).map((d) => d.id)).toEqual([devices['a']]);
    expect((await call({ 'x-api-key': key }, 'GET', `/devices/${devices['a']}`)).statusCode).toBe(200);
    const outside = await call(bearer(key), 'GET', `/devices/${devices['b']}`);
    expect(outside.statusCode).toBe(403);
    expect(outside.json()).toMatchObject({ error: { code: 'LOA_ERR_OUT_OF_SCOPE' } });
    // Never shown again: not in the list, not in one account's answer, not in the database.
    const listed = await call(bearer(adminA), 'GET', '/service-accounts');
    expect(listed.statusCode).toBe(200);
    expect((listed.json() as ServiceAccount[]).map((a) => a.name)).toEqual(['dashboard-a']);
    expect(listed.body).not.toContain(key.slice(18));
    expect((await call(bearer(adminA), 'GET', `/service-accounts/${account.id}`)).body).not.toContain(key.slice(18));
    const row = await t.core.database.selectFrom('service_accounts').selectAll().where('id', '=', account.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(key.slice(18));
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row).toMatchObject({ last_used_at: new Date(clock.now()).toISOString(), last_used_from: '127.0.0.1' });
    // An unknown key is refused, not taken as anonymous.
    expect((await call(bearer(`${key.slice(0, -3)}xyz`), 'GET', '/devices')).json()).toMatchObject({ error: { code: 'LOA_ERR_UNAUTHENTICATED' } });
  });

  it('is an admin\'s only within their areas; POST /api-keys is the same; operators may not', async () => {
    expect((await call(bearer(adminA), 'POST', '/service-accounts', { name: 'x-b', role: 'viewer', areaId: 'b' })).statusCode).toBe(403);
    expect((await call(bearer(operatorA), 'POST', '/service-accounts', { name: 'x-a', role: 'viewer', areaId: 'a' })).statusCode).toBe(403);
    expect((await call(bearer(operatorA), 'GET', '/service-accounts')).statusCode).toBe(403);
    const viaApiKeys = await call(bearer(adminRoot), 'POST', '/api-keys', { name: 'htttn', role: 'alert-staff', areaId: 'p', expiresInDays: 30 });
    expect(viaApiKeys.statusCode, viaApiKeys.body).toBe(201);
    expect((viaApiKeys.json() as ServiceAccountKey).key).toMatch(/^loa_sa_/);
    expect((await call(bearer(adminRoot), 'POST', '/service-accounts', { name: 'long', role: 'viewer', areaId: 'p', expiresInDays: 731 })).statusCode).toBe(400);
    // The commune admin does not see the province's key.
    expect(((await call(bearer(adminA), 'GET', '/service-accounts')).json() as ServiceAccount[]).map((a) => a.name)).not.toContain('htttn');
  });

  it('never manages users or keys, even with the admin role, and cannot log in', async () => {
    const { key } = await make(adminRoot, { name: 'admin-robot', role: 'admin', areaId: 'p' });
    expect((await call(bearer(key), 'GET', '/areas')).statusCode).toBe(200);
    for (const [method, url, body] of [
      ['GET', '/users', undefined],
      ['POST', '/users', { username: 'ke-la', password: 'mat-khau-rat-dai', role: 'admin', areaId: 'p' }],
      ['GET', '/service-accounts', undefined],
      ['POST', '/service-accounts', { name: 'child', role: 'admin', areaId: 'p' }],
      ['POST', '/signing-keys', undefined],
    ] as const) {
      const res = await call(bearer(key), method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
    }
    const me = (await call(bearer(key), 'GET', '/auth/me')).json() as { username: string; permissions: string[] };
    expect(me.username).toBe('sa:admin-robot');
    expect(me.permissions).toContain('devices:write');
    expect(me.permissions).not.toContain('users:write');
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'sa:admin-robot', password: '!service-account' } })).statusCode).toBe(401);
    expect(((await call(bearer(adminRoot), 'GET', '/users')).json() as { username: string }[]).map((u) => u.username)).not.toContain('sa:admin-robot');
  });

  it('rotates (the old key stops at once) and revokes (401 at once, in both languages); changes audited under sa:<name>', async () => {
    const { account, key: old } = await make(adminA, { name: 'tech-robot', role: 'technician', areaId: 'a' });
    const renamed = await call(bearer(old), 'PATCH', `/devices/${devices['a']}`, { name: 'Loa chợ' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    const rotated = await call(bearer(adminA), 'POST', `/service-accounts/${account.id}/rotate`, {});
    expect(rotated.statusCode, rotated.body).toBe(200);
    const { key } = rotated.json() as ServiceAccountKey;
    expect((await call(bearer(old), 'GET', '/devices')).statusCode).toBe(401);
    expect((await call(bearer(key), 'GET', '/devices')).statusCode).toBe(200);
    expect((await call(bearer(adminA), 'POST', `/service-accounts/${account.id}/revoke`)).json()).toMatchObject({ state: 'revoked' });
    const refused = await call(bearer(key), 'GET', '/devices');
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ error: { code: 'LOA_ERR_KEY_REVOKED', message: expect.stringContaining('revoked'), messageVi: expect.stringContaining('thu hồi') } });

    const log = (await call(bearer(adminRoot), 'GET', '/audit')).json() as Entry[];
    expect(log.find((e) => e.action === 'PATCH /api/v1/devices/:id' && e.userId === account.id)).toMatchObject({ username: 'sa:tech-robot', areaId: 'a', status: 200, target: devices['a'] });
    const prefixes = (rotated.json() as ServiceAccountKey).account.prefix;
    expect(log.find((e) => e.action === 'POST /api/v1/service-accounts' && e.detail?.['name'] === 'tech-robot')).toMatchObject({ username: 'admin-a', status: 201, detail: { prefix: account.prefix, role: 'technician' } });
    expect(log.find((e) => e.action === 'POST /api/v1/service-accounts/:id/rotate')).toMatchObject({ target: account.id, detail: { prefix: prefixes } });
    expect(log.find((e) => e.action === 'POST /api/v1/service-accounts/:id/revoke')).toMatchObject({ target: account.id, status: 200 });
    expect(JSON.stringify(log)).not.toContain(key.slice(18));
    expect(((await call(bearer(adminRoot), 'GET', `/audit?userId=${account.id}`)).json() as Entry[]).every((e) => e.username === 'sa:tech-robot')).toBe(true);
  });

  it('refuses an expired key with 401 saying so', async () => {
    const { key } = await make(adminA, { name: 'short-lived', role: 'viewer', areaId: 'a', expiresInDays: 1 });
    expect((await call(bearer(key), 'GET', '/devices')).statusCode).toBe(200);
    clock.advance(24 * 3600_000 + 1);
    const res = await call(bearer(key), 'GET', '/devices');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'LOA_ERR_KEY_EXPIRED', messageVi: expect.stringContaining('hết hạn') } });
    // The admin's session (12 h) has ended too.
    adminA = await login(t.app, 'admin-a');
    expect(((await call(bearer(adminA), 'GET', '/service-accounts')).json() as ServiceAccount[]).find((a) => a.name === 'short-lived')?.state).toBe('expired');
  });

  it('limits each key to its requests a minute: 429 with Retry-After, then works again', async () => {
    const { account, key } = await make(adminA, { name: 'chatty', role: 'viewer', areaId: 'a', rateLimitPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect((await call(bearer(key), 'GET', '/areas')).statusCode).toBe(200);
    const limited = await call(bearer(key), 'GET', '/areas');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(limited.json()).toMatchObject({ error: { code: 'LOA_ERR_RATE_LIMITED', messageVi: expect.stringContaining('3 yêu cầu') } });
    clock.advance(60_000);
    expect((await call(bearer(key), 'GET', '/areas')).statusCode).toBe(200);
    const raised = await call(bearer(adminA), 'PATCH', `/service-accounts/${account.id}`, { rateLimitPerMinute: 1000 });
    expect(raised.json()).toMatchObject({ rateLimitPerMinute: 1000 });
  });
});
