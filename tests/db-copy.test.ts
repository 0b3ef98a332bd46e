/**
 * Issue 16: `loalang db copy` moves a SQLite install into an empty PostgreSQL database, checks
 * every table's count and checksum, and refuses a target that already holds data; the server
 * then runs on PostgreSQL with the same users, devices, programmes and history.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { copySqliteToPostgres, CopyRefused, migratePostgres, openSqliteFile, postgresKysely, ServerCore } from '@loalang/broker';
import { bootstrapAdmin } from '@loalang/console';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { startCli } from './support.js';

const cluster = postgresUrl();

describe.skipIf(!cluster)('moving an install from SQLite to PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-copy-'));
  const file = join(dir, 'loalang.db');
  let password = '';
  let deviceId = '';
  beforeAll(async () => {
    const core = await ServerCore.create({ dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => 'http://127.0.0.1:9' });
    try {
      password = (await bootstrapAdmin(core, {})).generatedPassword!;
      const root = (await core.areas.list())[0]!;
      const district = await core.areas.create({ name: 'Huyện Hải Lăng', parentId: root.id });
      const commune = await core.areas.create({ name: 'Xã Hải An', parentId: district.id, quietHours: { from: '22:00', to: '05:00' }, geocodes: ['19495'] });
      const { device } = await core.devices.create({ name: 'Loa chợ Hải An', areaId: commune.id });
      deviceId = device.id;
      await core.devices.update(device.id, { position: { lat: 16.7621, lon: 107.2345 } });
      await core.devices.setPresence(device.id, true, 'connect', Date.now());
      await core.devices.setPresence(device.id, false, 'lost', Date.now() + 1);
      await core.content.insert({ id: 'bulletin', title: 'Bản tin sáng — “thời tiết”', areaId: root.id, originalName: 'bản tin.mp3', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 12345, durationMs: 61_500, source: { loudness: -16.2 }, createdBy: null });
      const admin = (await core.users.list())[0]!;
      await core.schedules.create({ title: 'Bản tin sáng', areaId: commune.id, priority: 'normal', start: new Date(Date.now() + 3600_000).toISOString(), items: [{ contentId: 'bulletin' }], targets: { areaIds: [commune.id], deviceIds: [] }, volume: 70, recurrence: null, repeat: { count: 2, gapSec: 5 }, createdBy: admin.id, approvedBy: admin.id });
      await core.refreshDevices([device.id]);
      await core.audit.append({ at: new Date().toISOString(), userId: admin.id, username: 'admin', areaId: root.id, source: '127.0.0.1', action: 'POST /api/v1/areas', target: commune.id, status: 201, detail: { name: 'Xã Hải An' } });
    } finally {
      await core.stop();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('copies every table, verified, and the server runs on the copy', async () => {
    const target = await freshPostgres('copy');
    const cli = startCli(['db', 'copy', '--from', file, '--to', target]);
    const code = await new Promise<number | null>((resolve) => cli.child.once('exit', resolve));
    expect(code, cli.output()).toBe(0);
    expect(cli.output()).toMatch(/areas\s+3 rows\s+checksum [0-9a-f]{32}\s+ok/);
    expect(cli.output()).toMatch(/counts and checksums match/);

    const core = await ServerCore.create({ databaseUrl: target, dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => 'http://127.0.0.1:9' });
    try {
      expect(await core.users.authenticate('admin', password)).not.toBeNull();
      const device = await core.devices.require(deviceId);
      expect(device).toMatchObject({ name: 'Loa chợ Hải An', position: { lat: 16.7621, lon: 107.2345 } });
      expect((await core.devices.presenceHistory(deviceId)).map((p) => p.online)).toEqual([false, true]);
      expect((await core.content.require('bulletin')).title).toBe('Bản tin sáng — “thời tiết”');
      const { state } = await core.desired.refresh(deviceId);
      expect(state.plays).toHaveLength(2);
      expect(state.quietHours).toMatchObject({ from: '22:00', to: '05:00' });
      // Identity columns continue after the copied ids.
      await core.devices.setPresence(deviceId, true, 'connect', Date.now() + 2);
      expect((await core.devices.presenceHistory(deviceId))[0]!.online).toBe(true);
      expect((await core.audit.query({ limit: 10 })).map((e) => e.action)).toContain('POST /api/v1/areas');
    } finally {
      await core.stop();
    }

    const again = startCli(['db', 'copy', '--from', file, '--to', target]);
    expect(await new Promise((resolve) => again.child.once('exit', resolve))).toBe(1);
    expect(again.output()).toMatch(/not empty/);
    expect(again.output()).toMatch(/không trống/);
  });

  it('finds a table that does not match after the copy', async () => {
    const target = postgresKysely(await freshPostgres('mismatch'));
    const source = openSqliteFile(file);
    try {
      await migratePostgres(target);
      // Something between the two (a trigger here) changes a row on its way in: the check must see it.
      await sql`CREATE FUNCTION rename_area() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$`.execute(target);
      await sql`CREATE TRIGGER rename_area BEFORE INSERT ON areas FOR EACH ROW EXECUTE FUNCTION rename_area()`.execute(target);
      const error = await copySqliteToPostgres(source, target).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(CopyRefused);
      expect((error as CopyRefused).en).toMatch(/table areas does not match/);
    } finally {
      source.close();
      await target.destroy();
    }
  });
});
