/**
 * The repositories, on SQLite and on PostgreSQL (issue 16: the same suite runs on both; the
 * PostgreSQL half is skipped, with the reason printed, where PostgreSQL is not installed).
 * Migrations of an existing SQLite file are SQLite's own.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqlite, type PlayReport } from '@loalang/protocol';
import { databases, freshPostgres, type TestDialect } from '@loalang/test-kit';
import { migrations } from '../src/store/migrations.js';
import { openSqliteFile, postgresKysely, sqliteKysely, type Database } from '../src/store/database.js';
import { migratePostgres, migrateSqlite, sqliteSchemaVersion } from '../src/store/migrate.js';
import { AreaRepo } from '../src/areas/areas.js';
import { UserRepo } from '../src/accounts/users.js';
import { SessionRepo } from '../src/accounts/sessions.js';
import { LoginThrottle, THROTTLE_AFTER } from '../src/accounts/login-throttle.js';
import { hashSecret, verifySecret } from '../src/accounts/passwords.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { DEVICE_AUTH_KEY_FILE, deviceAuthKeyFile } from '../src/devices/auth-key.js';
import { ContentRepo } from '../src/content/content-repo.js';
import { ScheduleRepo } from '../src/schedules/schedules.js';
import { DesiredStateService, DEFAULT_DESIRED_OPTIONS } from '../src/schedules/desired-state.js';
import { ReportRepo, reportsToCsv } from '../src/reports/reports.js';
import { IssuedPlays } from '../src/reports/issued-plays.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('migrations', () => {
  it('bring an empty file to the latest version, in WAL mode, and are idempotent', () => {
    const db = openSqliteFile(join(dir, 'test.db'));
    try {
      const latest = Math.max(...migrations.map((m) => m.version));
      expect(migrateSqlite(db)).toBe(latest);
      expect(sqliteSchemaVersion(db)).toBe(latest);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(migrateSqlite(db)).toBe(latest);
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[];
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['areas', 'users', 'devices', 'content', 'schedules', 'reports', 'commands']));
    } finally {
      db.close();
    }
  });

  it('14 keeps a play\'s first report, moves later rewrites to refused_reports, and records the plays devices hold', async () => {
    const old = openSqlite(join(dir, 'v13.db'));
    old.pragma('foreign_keys = ON');
    for (const m of migrations.filter((m) => m.version <= 13)) old.exec(m.sqlite);
    old.pragma('user_version = 13');
    old.exec(`INSERT INTO areas (id, name, created_at) VALUES ('a', 'Xã', 'x');`);
    old.exec(`INSERT INTO devices (id, name, area_id, secret_hash, created_at) VALUES ('d1', 'Loa', 'a', 'h', 'x');`);
    const add = old.prepare(`INSERT INTO reports (report_id, device_id, play_id, schedule_id, content_id, status, scheduled_at, played_ms, received_at) VALUES (?, 'd1', 'p1', 's1', 'c1', ?, '2026-11-22T06:00:00.000Z', ?, ?)`);
    add.run('first', 'skipped', 0, '2026-11-22T06:00:01.000Z');
    add.run('inflated', 'completed', 99_999_999, '2026-11-22T06:05:00.000Z');
    const play = { playId: 'p2', scheduleId: 's1', contentId: 'c1', sha256: 'a'.repeat(64), url: 'u', durationMs: 5000, startAt: '2026-11-22T07:00:00.000Z', priority: 'normal' };
    old.prepare(`INSERT INTO device_desired (device_id, version, plays_json, digest, issued_at) VALUES ('d1', 1, ?, 'x', 'x')`).run(JSON.stringify([play]));
    expect(migrateSqlite(old)).toBe(Math.max(...migrations.map((m) => m.version)));
    expect(old.prepare('SELECT report_id, played_ms FROM reports').all()).toEqual([{ report_id: 'first', played_ms: 0 }]);
    const refused = old.prepare('SELECT report_id, refusal, report_json FROM refused_reports').get() as { report_id: string; refusal: string; report_json: string };
    expect(refused).toMatchObject({ report_id: 'inflated', refusal: 'already-reported' });
    expect(JSON.parse(refused.report_json)).toMatchObject({ status: 'completed', playedMs: 99_999_999, scheduledAt: '2026-11-22T06:00:00.000Z' });
    expect(await new IssuedPlays(sqliteKysely(old)).find('d1', 'p2', 'c1')).toEqual({ scheduleId: 's1', durationMs: 5000 });
    old.close();
  });

  it('keep data across reopening', async () => {
    const open = () => {
      const raw = openSqliteFile(join(dir, 'test.db'));
      migrateSqlite(raw);
      return sqliteKysely(raw);
    };
    const first = open();
    await new AreaRepo(first).create({ name: 'Tỉnh A', parentId: null, id: 'prov' });
    await first.destroy();
    const again = open();
    expect((await new AreaRepo(again).get('prov'))?.name).toBe('Tỉnh A');
    await again.destroy();
  });
});

describe('password hashing', () => {
  it('uses argon2id with a salt and verifies only the right secret', async () => {
    const a = await hashSecret('correct horse battery');
    const b = await hashSecret('correct horse battery');
    expect(a).toMatch(/^\$argon2id\$/);
    expect(a).not.toBe(b);
    expect(await verifySecret(a, 'correct horse battery')).toBe(true);
    expect(await verifySecret(a, 'wrong')).toBe(false);
    expect(await verifySecret('garbage', 'x')).toBe(false);
  });
});

describe('the SQLite connection', () => {
  it('runs queries made at once in order, a crowd of them costing about what they cost one by one', async () => {
    const db = sqliteKysely(openSqliteFile(join(dir, 'test.db')));
    try {
      await sql`CREATE TABLE t (n INTEGER)`.execute(db);
      const N = 8000;
      const one = (n: number) => db.insertInto('t' as never).values({ n } as never).execute();
      let t0 = performance.now();
      for (let i = 0; i < N; i++) await one(i);
      const inTurn = performance.now() - t0;
      t0 = performance.now();
      await Promise.all(Array.from({ length: N }, (_, i) => one(N + i)));
      const atOnce = performance.now() - t0;
      const rows = await sql<{ n: number }>`SELECT n FROM t ORDER BY rowid`.execute(db);
      expect(rows.rows.map((r) => r.n)).toEqual(Array.from({ length: 2 * N }, (_, i) => i));
      // Kysely's own mutex wakes every waiter at each release: n queries at once cost n² wake-ups
      // (here 8,000 at once took ~5× as long as in turn; 10,000 ~6×). Queued, about the same.
      expect(atOnce).toBeLessThan(2.5 * inTurn + 200);
    } finally {
      await db.destroy();
    }
  });

  it('keeps statements prepared, and they follow the schema as it changes', async () => {
    const db = sqliteKysely(openSqliteFile(join(dir, 'test.db')));
    try {
      await sql`CREATE TABLE t (a INTEGER)`.execute(db);
      await sql`INSERT INTO t VALUES (1)`.execute(db);
      const all = () => db.selectFrom('t' as never).selectAll().execute();
      expect(await all()).toEqual([{ a: 1 }]);
      await sql`ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'`.execute(db);
      expect(await all()).toEqual([{ a: 1, b: 'x' }]);
      await sql`ALTER TABLE t RENAME TO gone`.execute(db);
      await expect(all()).rejects.toThrow(/no such table/);
      await sql`ALTER TABLE gone RENAME TO t`.execute(db);
      expect(await all()).toEqual([{ a: 1, b: 'x' }]);
    } finally {
      await db.destroy();
    }
  });
});

describe.each(databases())('the repositories on $dialect', ({ dialect, skip }: { dialect: TestDialect; skip: boolean }) => {
  let db: Database;
  let url = '';
  /** Another connection to the same database: a second server process. */
  const secondConnection = async (): Promise<Database> => {
    if (dialect === 'postgres') return postgresKysely(url);
    const raw = openSqliteFile(join(dir, 'test.db'));
    return sqliteKysely(raw);
  };
  beforeEach(async (context) => {
    if (skip) return context.skip();
    if (dialect === 'postgres') {
      url = await freshPostgres('store');
      db = postgresKysely(url);
      await migratePostgres(db);
    } else {
      const raw = openSqliteFile(join(dir, 'test.db'));
      migrateSqlite(raw);
      db = sqliteKysely(raw);
    }
  });
  afterEach(async () => {
    await db?.destroy();
  });

  async function tree(areas: AreaRepo): Promise<void> {
    await areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
    await areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
    await areas.create({ name: 'Thôn A1', parentId: 'a', id: 'a1' });
    await areas.create({ name: 'Xã B', parentId: 'p', id: 'b', timezone: 'Asia/Bangkok' });
  }


  describe('areas', () => {
    it('knows subtrees, ancestors and the effective timezone at any depth', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      expect([...(await areas.subtreeIds('a'))].sort()).toEqual(['a', 'a1']);
      expect((await areas.subtreeIds('p')).size).toBe(4);
      expect(await areas.ancestorIds('a1')).toEqual(['a1', 'a', 'p']);
      expect(await areas.effectiveTimezone('a1')).toBe('Asia/Ho_Chi_Minh');
      expect(await areas.effectiveTimezone('b')).toBe('Asia/Bangkok');
    });

    it('refuses cycles, unknown timezones and deleting areas in use', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      await expect(areas.update('a', { parentId: 'a1' })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
      await expect(areas.create({ name: 'x', parentId: 'p', timezone: 'Mars/Base' })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
      await expect(areas.delete('a')).rejects.toMatchObject({ code: 'LOA_ERR_IN_USE' });
      await areas.delete('a1');
      expect(await areas.get('a1')).toBeNull();
    });
  });

  describe('users and sessions', () => {
    it('authenticates with the right password only, and refuses disabled users', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const users = new UserRepo(db);
      const u = await users.create({ username: 'op-a', password: 'mat-khau-dai-1', role: 'operator', areaId: 'a' });
      expect((await users.authenticate('op-a', 'mat-khau-dai-1'))?.id).toBe(u.id);
      expect(await users.authenticate('op-a', 'wrong-password')).toBeNull();
      expect(await users.authenticate('nobody', 'mat-khau-dai-1')).toBeNull();
      await expect(users.create({ username: 'OP-A', password: 'mat-khau-dai-2', role: 'viewer', areaId: 'a' })).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
      await expect(users.create({ username: 'short', password: 'short', role: 'viewer', areaId: 'a' })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
      await users.update(u.id, { disabled: true });
      expect(await users.authenticate('op-a', 'mat-khau-dai-1')).toBeNull();
    });

    it('two servers on one database: the same name created at once is taken once; updates of different fields both stand', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const other = await secondConnection();
      try {
        const here = new UserRepo(db);
        const there = new UserRepo(other);
        const race = await Promise.allSettled([
          here.create({ username: 'Cung-Ten', password: 'mat-khau-dai-1', role: 'viewer', areaId: 'a' }),
          there.create({ username: 'cung-ten', password: 'mat-khau-dai-2', role: 'viewer', areaId: 'a' }),
        ]);
        expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(race.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'LOA_ERR_CONFLICT' } });
        expect(await here.count()).toBe(1);
        const [u] = await here.list();
        await Promise.all([here.update(u!.id, { role: 'operator' }), there.update(u!.id, { areaId: 'b' })]);
        expect(await there.get(u!.id)).toEqual({ ...u, role: 'operator', areaId: 'b' });
        await expect(here.update('nobody', { role: 'admin' })).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
        await expect(here.delete('nobody')).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
        await there.delete(u!.id);
        expect(await here.get(u!.id)).toBeNull();
      } finally {
        await other.destroy();
      }
    });

    it('counts wrong passwords made at once without losing one, and keeps the longest wait', async () => {
      const throttle = new LoginThrottle(db, () => Date.parse('2026-11-22T00:00:00Z'));
      const waits = await Promise.all(Array.from({ length: 12 }, () => throttle.failed('Admin', '203.0.113.9')));
      const row = await db.selectFrom('login_throttle').select(['failures', 'blocked_until']).where('username', '=', 'admin').where('source', '=', '203.0.113.9').executeTakeFirstOrThrow();
      expect(row.failures).toBe(12);
      expect(waits.filter((w) => w === null)).toHaveLength(THROTTLE_AFTER - 1);
      expect(row.blocked_until).toBe(waits.filter((w) => w !== null).sort().at(-1));
      expect(await throttle.blockedUntil('admin', '203.0.113.9')).toBe(row.blocked_until);
      expect(await throttle.blockedUntil('admin', '198.51.100.1')).toBeNull();
    });

    it('issues tokens that expire and can be revoked; only their hash is stored', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      let now = Date.parse('2026-11-22T00:00:00Z');
      const users = new UserRepo(db, () => now);
      const user = await users.create({ username: 'v', password: 'mat-khau-dai-1', role: 'viewer', areaId: 'p' });
      const sessions = new SessionRepo(db, () => now, 60_000);
      const { token } = await sessions.issue(user.id);
      // The province's user sees the whole tree, and is told so (lists then need no area condition).
      expect(await users.callerBySessionToken(token)).toEqual({ user, scope: await areas.subtreeIds('p'), wholeTree: true });
      const stored = await db.selectFrom('sessions').select('token_hash').executeTakeFirstOrThrow();
      expect(stored.token_hash).not.toContain(token);
      now += 59_999;
      expect((await users.callerBySessionToken(token))?.user.id).toBe(user.id);
      now += 1; // the instant it expires
      expect(await users.callerBySessionToken(token)).toBeNull();
      now -= 60_000;
      await sessions.revoke(token);
      expect(await users.callerBySessionToken(token)).toBeNull();
      // A commune's user answers for the commune and what lies below it, nothing else.
      const local = await users.create({ username: 'xa-a', password: 'mat-khau-dai-2', role: 'operator', areaId: 'a' });
      const scoped = await users.callerBySessionToken((await sessions.issue(local.id)).token);
      expect(scoped).toEqual({ user: local, scope: new Set(['a', 'a1']), wholeTree: false });
      // A second province: the first one's user no longer sees the whole tree.
      await areas.create({ name: 'Tỉnh khác', parentId: null, id: 'q' });
      expect((await users.callerBySessionToken((await sessions.issue(user.id)).token))?.wholeTree).toBe(false);
    });
  });

  describe('devices', () => {
    it('verifies credentials, and refuses wrong, unknown and disabled devices', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const devices = new DeviceRepo(db, areas);
      const { device, secret } = await devices.create({ name: 'Loa 1', areaId: 'a1' });
      expect(await devices.verify(device.id, Buffer.from(secret))).toEqual({ deviceId: device.id, areaIds: ['a1', 'a', 'p'] });
      expect(await devices.verify(device.id, Buffer.from(secret))).not.toBeNull(); // cached path
      expect(await devices.verify(device.id, Buffer.from('wrong'))).toBeNull();
      expect(await devices.verify('nope', Buffer.from(secret))).toBeNull();
      const stored = await db.selectFrom('devices').select('secret_hash').executeTakeFirstOrThrow();
      expect(stored.secret_hash).toMatch(/^\$argon2id\$/);
      await devices.update(device.id, { disabled: true });
      expect(await devices.verify(device.id, Buffer.from(secret))).toBeNull();
      await devices.update(device.id, { disabled: false });
      const rotated = await devices.rotateSecret(device.id);
      expect(await devices.verify(device.id, Buffer.from(secret))).toBeNull();
      expect(await devices.verify(device.id, Buffer.from(rotated))).not.toBeNull();
    });

    it('after a restart, checks a device by the MAC kept with the data folder\'s key, not argon2 again (issue 19)', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const key = await deviceAuthKeyFile(dir);
      const before = new DeviceRepo(db, areas, Date.now, key);
      const { device, secret } = await before.create({ name: 'Loa 1', areaId: 'a1' });
      expect(await before.verify(device.id, Buffer.from(secret))).not.toBeNull(); // argon2, then the MAC is stored
      const macOf = async () => (await db.selectFrom('devices').select('auth_mac').where('id', '=', device.id).executeTakeFirstOrThrow()).auth_mac;
      const mac = await macOf();
      expect(mac).toMatch(/^[0-9a-f]{64}$/);
      // The next process reads the same key: the stored MAC checks the device (it is not rewritten).
      const after = new DeviceRepo(db, areas, Date.now, await deviceAuthKeyFile(dir));
      expect(await after.verify(device.id, Buffer.from(secret))).not.toBeNull();
      expect(await macOf()).toBe(mac);
      expect(await after.verify(device.id, Buffer.from('wrong'))).toBeNull();
      // With another key (as every restart had before), argon2 again, and a new MAC.
      const stranger = new DeviceRepo(db, areas, Date.now, randomBytes(32));
      expect(await stranger.verify(device.id, Buffer.from(secret))).not.toBeNull();
      expect(await macOf()).not.toBe(mac);
    });

    it('checks a storm of logins with two statements a batch, each device against its own row and areas', async () => {
      await tree(new AreaRepo(db));
      let statements = 0;
      const counted = db.withPlugin({
        transformQuery: (args) => {
          statements++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
      const key = randomBytes(32);
      const devices = new DeviceRepo(counted, new AreaRepo(counted), Date.now, key, 'node-a');
      const password = Buffer.from('mật-khẩu-của-loa-0123456789');
      const hash = await hashSecret(password.toString('utf8'));
      // 1,100 known devices (the MAC of an earlier argon2 check stored, as decision 0024 defines it), in two communes.
      const ids = Array.from({ length: 1_100 }, (_, i) => `login-${String(i).padStart(4, '0')}`);
      const mac = (id: string) => createHmac('sha256', key).update(`${id}\0${hash}\0`).update(password).digest('hex');
      for (let from = 0; from < ids.length; from += 400) {
        const rows = ids.slice(from, from + 400).map((id, i) => ({ id, name: id, area_id: (from + i) % 2 ? 'a1' : 'b', secret_hash: hash, auth_mac: mac(id), disabled: id === 'login-0007' ? 1 : 0, created_at: new Date().toISOString() }));
        await db.insertInto('devices').values(rows).execute();
      }
      statements = 0;
      const results = await Promise.all([...ids.map((id) => devices.verify(id, password)), devices.verify('login-9999', password), devices.verify('login-0003', Buffer.from('sai'))]);
      // 1,102 logins in one turn: three batches (500, 500, 102) of two statements each.
      expect(statements).toBe(6);
      expect(results.filter((r) => r !== null)).toHaveLength(1_099);
      expect(results[7]).toBeNull(); // disabled
      expect(results[1]).toEqual({ deviceId: 'login-0001', areaIds: ['a1', 'a', 'p'] });
      expect(results[2]).toEqual({ deviceId: 'login-0002', areaIds: ['b', 'p'] });
      expect(results.slice(-2)).toEqual([null, null]); // unknown; a wrong password
    });

    it('writes a storm of presence changes in batches, each recorded once and in order per device', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const nodeA = new DeviceRepo(db, areas, Date.now, undefined, 'node-a');
      const nodeB = new DeviceRepo(db, areas, Date.now, undefined, 'node-b');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await nodeA.create({ name: `Loa ${i}`, areaId: 'a1' })).device.id);
      // 1,200 devices' rows straight in (no argon2 each), then all come online in one turn: three batches.
      const many = Array.from({ length: 1_200 }, (_, i) => `storm-${String(i).padStart(4, '0')}`);
      for (let from = 0; from < many.length; from += 400) {
        await db.insertInto('devices').values(many.slice(from, from + 400).map((id) => ({ id, name: id, area_id: 'a1', secret_hash: 'x', created_at: new Date().toISOString() }))).execute();
      }
      const t = Date.parse('2026-11-29T01:00:00Z');
      expect(await Promise.all(many.map((id) => nodeA.setPresence(id, true, 'connect', t)))).toEqual(many.map(() => true));
      const online = await db.selectFrom('devices').select(({ fn }) => fn.countAll().as('n')).where('online', '=', 1).where('node_id', '=', 'node-a').where('id', 'like', 'storm-%').executeTakeFirstOrThrow();
      expect(Number(online.n)).toBe(1_200);
      const logged = await db.selectFrom('presence_history').select(({ fn }) => fn.countAll().as('n')).where('device_id', 'like', 'storm-%').executeTakeFirstOrThrow();
      expect(Number(logged.n)).toBe(1_200);
      // The same device three times in one turn: three batches, in the order given.
      const [d0, d1, d2] = ids as [string, string, string];
      expect(await Promise.all([nodeA.setPresence(d0, true, 'connect', t), nodeA.setPresence(d0, false, 'disconnect', t + 1), nodeA.setPresence(d0, true, 'connect', t + 2)])).toEqual([true, true, true]);
      expect((await nodeA.presenceHistory(d0)).map((h) => `${h.online}:${h.cause}`)).toEqual(['true:connect', 'false:disconnect', 'true:connect']);
      // Mixed in one batch: a device moving to node B (online, no new history), node A's late
      // disconnect of it (refused: node B holds it), a repeat online (nothing) and a new one.
      await nodeA.setPresence(d1, true, 'connect', t);
      await nodeB.setPresence(d1, true, 'connect', t + 5);
      expect(await Promise.all([nodeA.setPresence(d1, false, 'disconnect', t + 6), nodeB.setPresence(d0, true, 'connect', t + 6), nodeA.setPresence(d2, true, 'connect', t + 6), nodeA.setPresence('no-such-device', true, 'connect', t + 6)])).toEqual([false, false, true, false]);
      const rows = await db.selectFrom('devices').select(['id', 'online', 'node_id']).where('id', 'in', [d0, d1, d2]).execute();
      expect(Object.fromEntries(rows.map((r) => [r.id, `${r.online}:${r.node_id}`]))).toEqual({ [d0]: '1:node-b', [d1]: '1:node-b', [d2]: '1:node-a' });
      expect(await nodeB.presenceHistory(d1)).toHaveLength(1);
    });

    it('keeps a device with the node holding its newer connection when another node writes an older one late', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const nodeA = new DeviceRepo(db, areas, Date.now, undefined, 'node-a');
      const nodeB = new DeviceRepo(db, areas, Date.now, undefined, 'node-b');
      const { device } = await nodeA.create({ name: 'Loa chuyển nút', areaId: 'a1' });
      const row = async () => {
        const r = await db.selectFrom('devices').select(['online', 'node_id', 'connected_at_ms']).where('id', '=', device.id).executeTakeFirstOrThrow();
        return `${r.online}:${r.node_id}:${Number(r.connected_at_ms)}`;
      };
      const t = Date.parse('2026-11-29T05:00:00Z');
      // Connected to A at t, then to B at t + 400; B's write lands first, A's two writes after it.
      expect(await nodeB.setPresence(device.id, true, 'connect', t + 400)).toBe(true);
      expect(await nodeA.setPresence(device.id, true, 'connect', t)).toBe(false);
      expect(await nodeA.setPresence(device.id, false, 'disconnect', t + 300)).toBe(false);
      expect(await row()).toBe(`1:node-b:${t + 400}`);
      expect(await nodeB.presenceHistory(device.id)).toHaveLength(1);
      // Back to A with a newer connection: A takes it; B's late disconnect changes nothing.
      expect(await nodeA.setPresence(device.id, true, 'connect', t + 900)).toBe(false);
      expect(await nodeB.setPresence(device.id, false, 'disconnect', t + 800)).toBe(false);
      expect(await row()).toBe(`1:node-a:${t + 900}`);
      // Offline, then an older connection written late: nobody holds the device, so it counts.
      expect(await nodeA.setPresence(device.id, false, 'disconnect', t + 1_000)).toBe(true);
      expect(await nodeB.setPresence(device.id, true, 'connect', t + 950)).toBe(true);
      expect(await row()).toBe(`1:node-b:${t + 950}`);
    });
  });

  describe('desired state', () => {
    it('lists approved plays for a device via its area ancestors and bumps the version only on change', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const devices = new DeviceRepo(db, areas);
      const content = new ContentRepo(db);
      const schedules = new ScheduleRepo(db);
      const { device } = await devices.create({ name: 'Loa', areaId: 'a1' });
      const { device: other } = await devices.create({ name: 'Loa B', areaId: 'b' });
      await content.insert({ id: 'c1', title: 'Tin', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 10, durationMs: 5000, source: {}, createdBy: null });
      let now = Date.parse('2026-11-22T05:00:00Z');
      const desired = new DesiredStateService(db, { areas, devices, schedules, content, issuedPlays: new IssuedPlays(db) }, { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => 'http://srv:8080' }, () => now);
      const first = await desired.refresh(device.id);
      expect(first).toMatchObject({ changed: true, state: { version: 1, plays: [] } });
      expect((await desired.refresh(device.id)).changed).toBe(false);

      const s = await schedules.create({ title: 'Bản tin', areaId: 'a', priority: 'normal', start: '2026-11-22T06:00:00.000Z', items: [{ contentId: 'c1' }, { contentId: 'c1' }], targets: { areaIds: ['a'], deviceIds: [] }, volume: 70, recurrence: null, repeat: { count: 1, gapSec: 0 }, createdBy: null, approvedBy: null });
      expect((await desired.refresh(device.id)).changed).toBe(false); // pending schedules do not reach devices
      const approver = await new UserRepo(db).create({ username: 'adm', password: 'mat-khau-dai-1', role: 'admin', areaId: 'p' });
      await schedules.approve(s.id, approver.id);
      const second = await desired.refresh(device.id);
      expect(second.changed).toBe(true);
      expect(second.state.version).toBe(2);
      expect(second.state.plays.map((p) => p.startAt)).toEqual(['2026-11-22T06:00:00.000Z', '2026-11-22T06:00:06.000Z']);
      expect(second.state.plays[0]).toMatchObject({ contentId: 'c1', url: 'http://srv:8080/api/v1/content/c1/file', volume: 70, priority: 'normal' });
      expect((await desired.refresh(other.id)).state.plays).toEqual([]);
      expect(await desired.contentIdsFor(device.id)).toEqual(new Set(['c1']));

      now = Date.parse('2026-11-22T07:00:00Z'); // long after: plays drop out of the window
      expect(await desired.refresh(device.id)).toMatchObject({ changed: true, state: { version: 3, plays: [] } });
    });
  });

  describe('desired state of a recurring schedule', () => {
    it('expands the runs inside the horizon with stable, distinct play ids', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const devices = new DeviceRepo(db, areas);
      const content = new ContentRepo(db);
      const schedules = new ScheduleRepo(db);
      const { device } = await devices.create({ name: 'Loa', areaId: 'a1' });
      await content.insert({ id: 'c1', title: 'Tin', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 10, durationMs: 60_000, source: {}, createdBy: null });
      const approver = await new UserRepo(db).create({ username: 'adm2', password: 'mat-khau-dai-1', role: 'admin', areaId: 'p' });
      await schedules.create({
        title: 'Tin sáng', areaId: 'a', priority: 'normal', start: '2026-11-22T00:00:00.000Z', items: [{ contentId: 'c1' }],
        targets: { areaIds: ['a'], deviceIds: [] }, volume: null, recurrence: { type: 'daily', time: '06:00', skipDates: ['2026-11-24'] }, repeat: { count: 1, gapSec: 0 },
        createdBy: approver.id, approvedBy: approver.id,
      });
      const now = Date.parse('2026-11-22T12:00:00Z'); // 19:00 in Vietnam
      const desired = new DesiredStateService(db, { areas, devices, schedules, content, issuedPlays: new IssuedPlays(db) }, { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => 'http://srv' }, () => now);
      const { state } = await desired.refresh(device.id);
      // 48 h from 22 Nov 19:00 (VN): the 23rd at 06:00, the 24th is skipped.
      expect(state.plays.map((p) => p.startAt)).toEqual(['2026-11-22T23:00:00.000Z']);
      const again = await desired.refresh(device.id);
      expect(again.changed).toBe(false);
      expect(again.state.plays[0]!.playId).toBe(state.plays[0]!.playId);
    });
  });

  describe('repeat', () => {
    it('plays the playlist N times with the gap between passes and distinct play ids', async () => {
      const areas = new AreaRepo(db);
      await tree(areas);
      const devices = new DeviceRepo(db, areas);
      const content = new ContentRepo(db);
      const schedules = new ScheduleRepo(db);
      const { device } = await devices.create({ name: 'Loa', areaId: 'a' });
      await content.insert({ id: 'tb', title: 'Thông báo', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'c'.repeat(64), sizeBytes: 1, durationMs: 20_000, source: {}, createdBy: null });
      const admin = await new UserRepo(db).create({ username: 'adm3', password: 'mat-khau-dai-1', role: 'admin', areaId: 'p' });
      const s = await schedules.create({
        title: 'Thông báo tiêm chủng', areaId: 'a', priority: 'priority', start: '2026-11-22T02:00:00.000Z', items: [{ contentId: 'tb' }],
        targets: { areaIds: [], deviceIds: [device.id] }, volume: null, recurrence: null, repeat: { count: 3, gapSec: 30 }, createdBy: admin.id, approvedBy: admin.id,
      });
      const desired = new DesiredStateService(db, { areas, devices, schedules, content, issuedPlays: new IssuedPlays(db) }, { ...DEFAULT_DESIRED_OPTIONS, publicHttpUrl: () => 'http://srv' }, () => Date.parse('2026-11-22T01:00:00Z'));
      const plays = (await desired.refresh(device.id)).state.plays;
      expect(plays.map((p) => p.startAt)).toEqual(['2026-11-22T02:00:00.000Z', '2026-11-22T02:00:50.000Z', '2026-11-22T02:01:40.000Z']);
      expect(new Set(plays.map((p) => p.playId)).size).toBe(3);
      expect(plays.every((p) => p.scheduleId === s.id && p.priority === 'priority')).toBe(true);
    });
  });

  describe('reports', () => {
    const report: PlayReport = { v: 1, reportId: 'r1', playId: 'p1', scheduleId: 's1', contentId: 'c1', status: 'completed', scheduledAt: '2026-11-22T06:00:00.000Z', startedAt: '2026-11-22T06:00:00.001Z', endedAt: '2026-11-22T06:00:05.000Z', playedMs: 4999 };

    it('are stored once per report id, once per play, and filtered by time and device', async () => {
      const reports = new ReportRepo(db);
      expect(await reports.insert('d1', report)).toBe('stored');
      expect(await reports.insert('d1', { ...report, status: 'failed' })).toBe('resent');
      // Another report for a play already reported: its final state stands (issue 14).
      expect(await reports.insert('d1', { ...report, reportId: 'r1-again', playedMs: 99_999_999 })).toBe('taken');
      await reports.insert('d2', { ...report, reportId: 'r2', scheduledAt: '2026-11-23T06:00:00.000Z' });
      expect(await reports.query({})).toHaveLength(2);
      expect((await reports.query({ from: '2026-11-23T00:00:00.000Z' })).map((r) => r.reportId)).toEqual(['r2']);
      expect((await reports.query({ deviceIds: new Set(['d1']) }))[0]).toMatchObject({ status: 'completed', deviceId: 'd1' });
      // The limit counts the caller's rows only: d2's newer report must not crowd out d1's.
      expect((await reports.query({ deviceIds: new Set(['d1']), limit: 1 })).map((r) => r.reportId)).toEqual(['r1']);
      expect(await reports.query({ deviceIds: new Set() })).toEqual([]);
    });

    it('export to CSV with quoting and formula neutralising', () => {
      const csv = reportsToCsv([{ ...report, deviceId: 'd1', receivedAt: 'x', reason: '=cmd,"x"' }]);
      const [header, row] = csv.trim().split('\r\n');
      expect(header?.startsWith('reportId,deviceId')).toBe(true);
      expect(row).toContain(`"'=cmd,""x"""`);
    });
  });
});

describe('the device authentication key file', () => {
  it('is made once, readable by its owner only, and the same for every process on the folder', async () => {
    const [a, b] = await Promise.all([deviceAuthKeyFile(dir), deviceAuthKeyFile(dir)]);
    expect(a.length).toBe(32);
    expect(b.equals(a)).toBe(true);
    expect((await deviceAuthKeyFile(dir)).equals(a)).toBe(true);
    expect(statSync(join(dir, DEVICE_AUTH_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('refuses a file that is not a key, saying what to do', async () => {
    writeFileSync(join(dir, DEVICE_AUTH_KEY_FILE), 'not a key\n');
    await expect(deviceAuthKeyFile(dir)).rejects.toThrow(/remove it to make a new one/);
  });
});
