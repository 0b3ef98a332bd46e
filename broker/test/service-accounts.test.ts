/**
 * Service accounts (issue 21) on the store, SQLite and PostgreSQL: a key works only as given
 * (its SHA-256 stored, never the key), with its role and area scope; rotating stops the old key
 * at once; a revoked or expired key is refused, saying which; its use is noted at most once a
 * minute; the rate limit counts per key; the account's users row never logs in nor shows as a user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@loalang/protocol';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { AreaRepo } from '../src/areas/areas.js';
import { UserRepo } from '../src/accounts/users.js';
import { keyDigest, prefixOf, ServiceAccountRepo } from '../src/accounts/service-accounts.js';
import { KeyRateWindow, ServiceAccountAdmin } from '../src/accounts/service-account-admin.js';
import type { Caller } from '../src/accounts/scope.js';
import { callerCan } from '../src/accounts/roles.js';

const T0 = Date.parse('2026-11-29T09:00:00Z');

type Backend = { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> };
const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-service-accounts-'));
      const store = await openStore({ file: join(dir, 'test.db') });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) backends.push({ name: 'postgres', open: async () => { const store = await openStore({ url: await freshPostgres('service_accounts'), file: '' }); return { store, close: () => store.close() }; } });

describe('key rate window', () => {
  it('lets a key make its limit a minute, then says how long to wait; keys count apart', () => {
    const clock = new ManualClock(T0);
    const w = new KeyRateWindow(() => clock.now());
    for (let i = 0; i < 3; i++) expect(w.take('a', 3)).toBeNull();
    expect(w.take('a', 3)).toBe(60);
    expect(w.take('b', 3)).toBeNull();
    clock.advance(45_000);
    expect(w.take('a', 3)).toBe(15);
    clock.advance(15_000);
    expect(w.take('a', 3)).toBeNull();
  });
});

describe.each(backends)('service accounts on $name', (backend) => {
  let opened: Awaited<ReturnType<Backend['open']>>;
  let repo: ServiceAccountRepo;
  let desk: ServiceAccountAdmin;
  let users: UserRepo;
  let admin: Caller;
  const clock = new ManualClock(T0);
  const now = () => clock.now();

  beforeAll(async () => {
    opened = await backend.open();
    const db = opened.store.db;
    const areas = new AreaRepo(db, now);
    await areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
    await areas.create({ name: 'Xã A', parentId: 'p', id: 'xa' });
    await areas.create({ name: 'Xã B', parentId: 'p', id: 'xb' });
    users = new UserRepo(db, now);
    const adminUser = await users.create({ username: 'quan-tri', password: 'mat-khau-dai-du', role: 'admin', areaId: 'p' });
    admin = { user: adminUser, scope: new Set(['p', 'xa', 'xb']) };
    repo = new ServiceAccountRepo(db, now);
    desk = new ServiceAccountAdmin({ repo, areas, now });
  });
  afterAll(async () => opened?.close());

  it('makes a key shown once, stores only its SHA-256, and resolves it to the role and area scope', async () => {
    const { account, key } = await desk.create(admin, { name: 'htttn-xa', role: 'alert-staff', areaId: 'xa' });
    expect(key).toMatch(/^loa_sa_[0-9a-f]{10}_[A-Za-z0-9_-]{43}$/);
    expect(prefixOf(key)).toBe(account.prefix);
    expect(account).toMatchObject({ name: 'htttn-xa', role: 'alert-staff', areaId: 'xa', state: 'active', createdBy: admin.user.id, rateLimitPerMinute: 600, lastUsedAt: null });
    expect(Date.parse(account.expiresAt) - T0).toBe(365 * 24 * 3600_000);
    const row = await opened.store.db.selectFrom('service_accounts').selectAll().where('id', '=', account.id).executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(keyDigest(key));
    expect(JSON.stringify(row)).not.toContain(key.slice(-20));
    expect(JSON.stringify(await repo.list())).not.toContain(key.slice(-20));

    const caller = await desk.authenticate(key, '10.0.0.7');
    expect(caller.user).toMatchObject({ id: account.id, username: 'sa:htttn-xa', role: 'alert-staff', areaId: 'xa' });
    expect([...caller.scope]).toEqual(['xa']);
    expect(caller.serviceAccount).toEqual({ id: account.id, name: 'htttn-xa', prefix: account.prefix });
    expect(callerCan(caller, 'alerts:write')).toBe(true);
    expect(callerCan({ user: { role: 'admin' }, serviceAccount: caller.serviceAccount }, 'users:write')).toBe(false);
    expect(callerCan({ user: { role: 'admin' } }, 'users:write')).toBe(true);
  });

  it('refuses a wrong key, a key of another shape, and a key whose secret differs under a real prefix', async () => {
    const { key } = await desk.create(admin, { name: 'cap-feeder', role: 'alert-staff', areaId: 'xb' });
    await expect(desk.authenticate('loa_sa_nope', 'x')).rejects.toMatchObject({ code: 'LOA_ERR_UNAUTHENTICATED' });
    await expect(desk.authenticate(`${key.slice(0, -4)}AAAA`, 'x')).rejects.toMatchObject({ code: 'LOA_ERR_UNAUTHENTICATED' });
  });

  it('notes its use at most once a minute, with the source address', async () => {
    const { account, key } = await desk.create(admin, { name: 'dashboard', role: 'viewer', areaId: 'p' });
    await desk.authenticate(key, '10.0.0.8');
    const first = (await repo.require(account.id)).lastUsedAt;
    expect(first).toBe(new Date(T0).toISOString());
    expect((await repo.require(account.id)).lastUsedFrom).toBe('10.0.0.8');
    clock.advance(30_000);
    await desk.authenticate(key, '10.0.0.9');
    expect((await repo.require(account.id)).lastUsedAt).toBe(first);
    clock.advance(31_000);
    await desk.authenticate(key, '10.0.0.9');
    expect(await repo.require(account.id)).toMatchObject({ lastUsedAt: new Date(T0 + 61_000).toISOString(), lastUsedFrom: '10.0.0.9' });
  });

  it('rotates: the old key stops at once, the new one works; revoked: refused as revoked, and cannot be rotated', async () => {
    const { account, key: old } = await desk.create(admin, { name: 'rotating', role: 'operator', areaId: 'xa' });
    const { account: after, key } = await desk.rotate(admin, account.id);
    expect(after.prefix).not.toBe(account.prefix);
    expect(after.rotatedAt).not.toBeNull();
    await expect(desk.authenticate(old, 'x')).rejects.toMatchObject({ code: 'LOA_ERR_UNAUTHENTICATED' });
    expect((await desk.authenticate(key, 'x')).user.id).toBe(account.id);
    expect((await desk.revoke(admin, account.id)).state).toBe('revoked');
    await expect(desk.authenticate(key, 'x')).rejects.toMatchObject({ code: 'LOA_ERR_KEY_REVOKED', messageVi: expect.stringContaining('thu hồi') });
    await expect(desk.rotate(admin, account.id)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
  });

  it('expires: refused as expired after its days, with both languages', async () => {
    const { key, account } = await desk.create(admin, { name: 'short', role: 'viewer', areaId: 'xa', expiresInDays: 1 });
    expect((await desk.authenticate(key, 'x')).user.id).toBe(account.id);
    clock.advance(24 * 3600_000);
    await expect(desk.authenticate(key, 'x')).rejects.toMatchObject({ code: 'LOA_ERR_KEY_EXPIRED', message: expect.stringContaining('expired'), messageVi: expect.stringContaining('hết hạn') });
    expect((await repo.require(account.id)).state).toBe('expired');
    // A rotation with a new lifetime brings it back.
    const { key: renewed } = await desk.rotate(admin, account.id, 30);
    expect((await desk.authenticate(renewed, 'x')).user.id).toBe(account.id);
    await expect(desk.create(admin, { name: 'too-long', role: 'viewer', areaId: 'xa', expiresInDays: 731 })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
  });

  it('rate-limits each key with its own limit, saying when to retry', async () => {
    const { key, account } = await desk.create(admin, { name: 'limited', role: 'viewer', areaId: 'xa', rateLimitPerMinute: 2 });
    await desk.authenticate(key, 'x');
    await desk.authenticate(key, 'x');
    await expect(desk.authenticate(key, 'x')).rejects.toMatchObject({ code: 'LOA_ERR_RATE_LIMITED', details: { retryAfterSec: 60 } });
    expect((await desk.update(admin, account.id, { rateLimitPerMinute: 5, description: 'bảng điều khiển' })).rateLimitPerMinute).toBe(5);
    await desk.authenticate(key, 'x');
  });

  it('keeps to the admin\'s areas and to unique names; its users row is no user: not listed, never logs in', async () => {
    const communeAdmin: Caller = { user: { ...admin.user, id: admin.user.id, areaId: 'xa' }, scope: new Set(['xa']) };
    await expect(desk.create(communeAdmin, { name: 'elsewhere', role: 'viewer', areaId: 'xb' })).rejects.toMatchObject({ code: 'LOA_ERR_OUT_OF_SCOPE' });
    expect((await desk.list(communeAdmin)).every((a) => a.areaId === 'xa')).toBe(true);
    const other = (await desk.list(admin)).find((a) => a.areaId === 'xb')!;
    await expect(desk.revoke(communeAdmin, other.id)).rejects.toMatchObject({ code: 'LOA_ERR_OUT_OF_SCOPE' });
    await expect(desk.create(admin, { name: 'HTTTN-XA', role: 'viewer', areaId: 'xa' })).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
    expect((await users.list()).map((u) => u.username)).toEqual(['quan-tri']);
    expect(await users.count()).toBe(1);
    expect(await users.get(other.id)).toBeNull();
    expect(await users.authenticate('sa:cap-feeder', '!service-account')).toBeNull();
  });
});
