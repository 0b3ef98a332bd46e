/** Brute force against the login: per-account-and-address throttle, per-address rate limit, and security headers. */
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT_SURGE, THROTTLE_AFTER } from '@loalang/broker';
import { LOGIN_ATTEMPTS_PER_MINUTE } from '../src/routes/auth.js';
import { addUser, buildTestServer, login, PASSWORD, type TestServer } from './helpers.js';

let t: TestServer | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

async function world(): Promise<TestServer> {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await addUser(t.core, 'admin', 'admin', 'p');
  await addUser(t.core, 'op', 'operator', 'p');
  return t;
}

const attempt = (s: TestServer, username: string, password: string, remoteAddress = '127.0.0.1') =>
  s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, remoteAddress });

describe('login protection', () => {
  it(`after ${THROTTLE_AFTER} wrong passwords an address waits, longer each time; the owner from another address is not locked out`, async () => {
    const s = await world();
    const stranger = '203.0.113.9';
    for (let i = 0; i < THROTTLE_AFTER; i++) expect((await attempt(s, 'op', `sai-${i}`, stranger)).statusCode).toBe(401);
    // The stranger now waits, even with the right password…
    const held = await attempt(s, 'op', PASSWORD, stranger);
    expect(held.statusCode).toBe(429);
    expect(held.json()).toMatchObject({ error: { code: 'LOA_ERR_LOCKED', message: expect.stringContaining('try again in 1 min'), messageVi: expect.stringContaining('thử lại sau 1 phút') } });
    // …and the owner, from their own address, logs in.
    expect((await attempt(s, 'op', PASSWORD, '198.51.100.20')).statusCode).toBe(200);
    const admin = await login(s.app, 'admin');
    const audit = (await s.app.inject({ method: 'GET', url: '/api/v1/audit?action=login', headers: { authorization: `Bearer ${admin}` } })).json() as { action: string }[];
    expect(audit.filter((e) => e.action === 'login-failed')).toHaveLength(THROTTLE_AFTER);
    expect(audit.some((e) => e.action === 'login-throttled')).toBe(true);
    // Growing delays: once the wait is over, the next wrong password doubles it.
    await s.core.database.updateTable('login_throttle').set({ blocked_until: '2000-01-01T00:00:00.000Z' }).where('source', '=', stranger).execute();
    expect((await attempt(s, 'op', 'sai-lan-nua', stranger)).statusCode).toBe(401);
    const wait = (await attempt(s, 'op', PASSWORD, stranger)).json() as { error: { message: string; details: { retryAt: string } } };
    expect(wait.error.message).toContain('try again in 2 min');
    // An admin's new password ends the wait.
    const opId = (await s.core.users.list()).find((u) => u.username === 'op')!.id;
    const reset = await s.app.inject({ method: 'PATCH', url: `/api/v1/users/${opId}`, headers: { authorization: `Bearer ${admin}` }, payload: { password: 'mat-khau-moi-cua-op' } });
    expect(reset.statusCode).toBe(200);
    expect((await attempt(s, 'op', 'mat-khau-moi-cua-op', stranger)).statusCode).toBe(200);
  });

  it(`when an account draws ${ACCOUNT_SURGE} wrong passwords from many addresses, new addresses wait after one; the owner's usual address does not`, async () => {
    const s = await world();
    const home = '198.51.100.20';
    expect((await attempt(s, 'admin', PASSWORD, home)).statusCode).toBe(200);
    // A botnet: four tries from each of many addresses, under the per-address allowance.
    for (let n = 0; n < ACCOUNT_SURGE / 4; n++) {
      for (let i = 0; i < 4; i++) await attempt(s, 'admin', `doan-${i}`, `10.0.${n}.1`);
    }
    expect((await attempt(s, 'admin', 'doan-moi', '10.9.9.9')).statusCode).toBe(401);
    expect((await attempt(s, 'admin', PASSWORD, '10.9.9.9')).statusCode).toBe(429);
    // The owner's known address: a typo, then the right password.
    expect((await attempt(s, 'admin', 'go-nham', home)).statusCode).toBe(401);
    expect((await attempt(s, 'admin', PASSWORD, home)).statusCode).toBe(200);
  });

  it(`answers 429 after ${LOGIN_ATTEMPTS_PER_MINUTE} attempts a minute from one address, in both languages`, async () => {
    const s = await world();
    const codes: number[] = [];
    for (let i = 0; i <= LOGIN_ATTEMPTS_PER_MINUTE; i++) codes.push((await attempt(s, `khong-co-${i}`, 'doan-bua')).statusCode);
    expect(codes.slice(0, LOGIN_ATTEMPTS_PER_MINUTE).every((c) => c === 401)).toBe(true);
    const last = await attempt(s, 'admin', PASSWORD);
    expect(last.statusCode).toBe(429);
    expect(last.json()).toMatchObject({ error: { code: 'LOA_ERR_RATE_LIMITED', message: expect.stringContaining('retry in'), messageVi: expect.stringContaining('thử lại sau') } });
  });

  it('sends security headers and no CORS permission', async () => {
    const s = await world();
    const res = await s.app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    // This test server speaks plain HTTP: no HSTS (issue 14); over TLS it is sent (security-headers.test.ts).
    expect(res.headers['strict-transport-security']).toBeUndefined();
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const docs = await s.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(docs.statusCode).toBe(200);
  });
});
