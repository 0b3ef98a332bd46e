/** Brute force against the login: per-account lockout, per-address rate limit, and security headers. */
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_AFTER } from '@loalang/broker';
import { LOGIN_ATTEMPTS_PER_MINUTE } from '../src/routes/auth.js';
import { addUser, buildTestServer, login, PASSWORD, type TestServer } from './helpers.js';

let t: TestServer | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

async function world(): Promise<TestServer> {
  t = await buildTestServer();
  t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await addUser(t.core, 'admin', 'admin', 'p');
  await addUser(t.core, 'op', 'operator', 'p');
  return t;
}

const attempt = (s: TestServer, username: string, password: string) => s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });

describe('login protection', () => {
  it(`locks an account after ${LOCK_AFTER} wrong passwords, even against the right one, until an admin sets a new password`, async () => {
    const s = await world();
    for (let i = 0; i < LOCK_AFTER; i++) expect((await attempt(s, 'op', `sai-${i}`)).statusCode).toBe(401);
    const locked = await attempt(s, 'op', PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toMatchObject({ error: { code: 'LOA_ERR_LOCKED', messageVi: expect.stringContaining('tạm bị khóa') } });
    // Other accounts are not affected.
    const admin = await login(s.app, 'admin');
    const audit = (await s.app.inject({ method: 'GET', url: '/api/v1/audit?action=login', headers: { authorization: `Bearer ${admin}` } })).json() as { action: string }[];
    expect(audit.filter((e) => e.action === 'login-failed')).toHaveLength(LOCK_AFTER);
    expect(audit.some((e) => e.action === 'login-locked')).toBe(true);
    const opId = s.core.users.list().find((u) => u.username === 'op')!.id;
    const reset = await s.app.inject({ method: 'PATCH', url: `/api/v1/users/${opId}`, headers: { authorization: `Bearer ${admin}` }, payload: { password: 'mat-khau-moi-cua-op' } });
    expect(reset.statusCode).toBe(200);
    expect((await attempt(s, 'op', 'mat-khau-moi-cua-op')).statusCode).toBe(200);
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
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const docs = await s.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(docs.statusCode).toBe(200);
  });
});
