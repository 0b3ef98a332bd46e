/**
 * AlertRepo on the store (issue 16): deliveries only move forward and an alert ends once, also
 * when two connections (two server processes) write at once. Runs on SQLite, and on PostgreSQL
 * where the run's cluster is up (a fresh database each).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { AlertRepo, type Alert } from '../src/alerts/alerts.js';

const DEVICES = 1234; // more than two insert chunks
const T0 = '2026-11-28T10:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const deviceId = (i: number) => `d${String(i).padStart(4, '0')}`;

type Backend = { name: string; open: () => Promise<{ a: Store; b: Store; close: () => Promise<void> }> };

const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-alert-repo-'));
      // One connection: a SQLite file has one server process writing it.
      const a = await openStore({ file: join(dir, 'test.db') });
      return { a, b: a, close: async () => (await a.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) {
  backends.push({
    name: 'postgres',
    open: async () => {
      const url = await freshPostgres('alert_repo');
      // Two pools: two server processes.
      const a = await openStore({ url, file: '' });
      const b = await openStore({ url, file: '' }, { migrate: false });
      return {
        a,
        b,
        close: async () => {
          await a.close();
          await b.close();
        },
      };
    },
  });
}

describe.each(backends)('AlertRepo on $name', (backend) => {
  let stores: Awaited<ReturnType<Backend['open']>>;
  let repo: AlertRepo;
  let other: AlertRepo;

  const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
    id,
    title: `Cảnh báo ${id}`,
    text: null,
    contentId: 'c1',
    priority: 'emergency',
    targets: { areaIds: ['a'], deviceIds: [] },
    repeat: 2,
    gapMs: 3000,
    volume: null,
    startAt: at(2),
    expiresAt: at(3600),
    state: 'active',
    replaces: null,
    replacedBy: null,
    cap: null,
    createdBy: null,
    createdAt: T0,
    endedAt: null,
    ...over,
  });
  const all = Array.from({ length: DEVICES }, (_, i) => ({ deviceId: deviceId(i), state: (i % 10 === 0 ? 'offline' : 'pending') as 'pending' | 'offline' }));

  beforeAll(async () => {
    stores = await backend.open();
    const db = stores.a.db;
    await db.insertInto('areas').values({ id: 'a', name: 'Xã', parent_id: null, timezone: null, created_at: T0, quiet_hours_json: null, schedule_approval: null, geocodes_json: null }).execute();
    for (let i = 0; i < DEVICES; i += 500) {
      const rows = all.slice(i, i + 500).map((d) => ({ id: d.deviceId, name: d.deviceId, area_id: 'a', secret_hash: 'h', created_at: T0, last_seen_at: null, agent_version: null, latest_telemetry: null, reported_version: null, lat: null, lon: null }));
      await db.insertInto('devices').values(rows).execute();
    }
    await db
      .insertInto('content')
      .values({ id: 'c1', title: 'Lũ', area_id: 'a', original_name: null, mime_type: 'audio/ogg', sha256: 'a'.repeat(64), size_bytes: 1000, duration_ms: 5000, source_json: '{}', created_by: null, created_at: T0, speech_key: null })
      .execute();
    repo = new AlertRepo(stores.a.db);
    other = new AlertRepo(stores.b.db);
  }, 60_000);
  afterAll(async () => stores?.close());

  it('stores an alert with a delivery per device, and reads it back', async () => {
    const cap = { identifier: 'id-1', sender: 'kttv@example.vn', sent: T0, event: 'Lũ', severity: 'Severe', urgency: 'Immediate', certainty: 'Observed' };
    await repo.insert(alert('A1', { cap, text: 'Nước lên' }), all);
    expect(await repo.get('A1')).toEqual(alert('A1', { cap, text: 'Nước lên' }));
    expect(await repo.get('nope')).toBeNull();
    await expect(repo.require('nope')).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
    const deliveries = await repo.deliveries('A1');
    expect(deliveries).toHaveLength(DEVICES);
    expect(deliveries.map((d) => d.deviceId)).toEqual(all.map((d) => d.deviceId));
    expect(deliveries[0]).toEqual({ deviceId: deviceId(0), state: 'offline', reason: null, played: 0, startedAt: null, updatedAt: T0 });
    expect(await repo.totals('A1')).toMatchObject({ pending: DEVICES - 124, offline: 124, received: 0, finished: 0 });
    expect(await repo.devicesIn('A1', ['offline'])).toEqual(all.filter((d) => d.state === 'offline').map((d) => d.deviceId));
    expect(await repo.byCapIdentifier('kttv@example.vn', 'id-1')).toMatchObject([{ id: 'A1' }]);
    expect(await repo.byCapIdentifier('other@example.vn', 'id-1')).toEqual([]);
    expect(await repo.byCapIdentifier('kttv@example.vn', 'id-2')).toEqual([]);
    expect(await repo.playFor('A1', deviceId(3))).toEqual({ contentId: 'c1', repeat: 2, durationMs: 5000 });
    expect(await repo.playFor('A1', 'stranger')).toBeNull();
    expect(await repo.deviceMayFetch(deviceId(3), 'c1')).toBe(true);
    expect(await repo.deviceMayFetch(deviceId(3), 'c2')).toBe(false);
    expect((await repo.openFor(deviceId(3))).map((a) => a.id)).toEqual(['A1']);
    expect((await repo.active()).map((a) => a.id)).toEqual(['A1']);
  });

  it('moves a delivery only forward; pending and offline swap; a higher played count is kept', async () => {
    const d = deviceId(1);
    expect(await repo.advance('A1', d, 'pending', at(1))).toBeNull(); // already pending
    expect(await repo.advance('A1', d, 'offline', at(1))).toMatchObject({ state: 'offline' });
    expect(await repo.advance('A1', d, 'pending', at(2))).toMatchObject({ state: 'pending' });
    expect(await repo.advance('A1', d, 'started', at(3), { startedAt: at(3) })).toMatchObject({ state: 'started', startedAt: at(3) });
    expect(await repo.advance('A1', d, 'received', at(4))).toBeNull();
    expect(await repo.advance('A1', d, 'offline', at(4))).toBeNull();
    expect(await repo.advance('A1', d, 'started', at(5), { played: 1, startedAt: at(5) })).toEqual({ deviceId: d, state: 'started', reason: null, played: 1, startedAt: at(3), updatedAt: at(5) });
    expect(await repo.advance('A1', d, 'started', at(6), { played: 1 })).toBeNull();
    expect(await repo.advance('A1', d, 'interrupted', at(7), { reason: 'power', played: 1 })).toMatchObject({ state: 'interrupted', reason: 'power', played: 1 });
    expect(await repo.advance('A1', d, 'finished', at(8), { played: 2 })).toBeNull(); // one end state never becomes another
    expect(await repo.advance('A1', d, 'interrupted', at(9), { played: 2 })).toMatchObject({ state: 'interrupted', played: 2, reason: 'power' });
    expect(await repo.advance('A1', d, 'interrupted', at(10))).toBeNull();
  });

  it('moves many deliveries in one batch by the same rule, one named twice in order, results in the order given', async () => {
    const [d0, d1, d2, d3, d4] = [400, 401, 402, 403, 404].map(deviceId);
    const results = await repo.advanceAll([
      { alertId: 'A1', deviceId: d0!, next: 'received', at: at(10) },
      { alertId: 'A1', deviceId: d1!, next: 'started', at: at(10), extra: { startedAt: at(9) } },
      { alertId: 'A1', deviceId: d0!, next: 'started', at: at(11), extra: { startedAt: at(11) } },
      { alertId: 'A1', deviceId: d0!, next: 'received', at: at(12) },
      { alertId: 'A1', deviceId: d2!, next: 'offline', at: at(10) },
      { alertId: 'A1', deviceId: d3!, next: 'pending', at: at(10) },
      { alertId: 'A1', deviceId: d4!, next: 'failed', at: at(10), extra: { reason: 'decode', played: 1 } },
      { alertId: 'A1', deviceId: d4!, next: 'failed', at: at(11), extra: { played: 1 } },
      { alertId: 'A1', deviceId: 'stranger', next: 'received', at: at(10) },
      { alertId: 'nope', deviceId: d3!, next: 'received', at: at(10) },
    ]);
    expect(results).toEqual([
      { deviceId: d0, state: 'received', reason: null, played: 0, startedAt: null, updatedAt: at(10) },
      { deviceId: d1, state: 'started', reason: null, played: 0, startedAt: at(9), updatedAt: at(10) },
      { deviceId: d0, state: 'started', reason: null, played: 0, startedAt: at(11), updatedAt: at(11) },
      null,
      { deviceId: d2, state: 'offline', reason: null, played: 0, startedAt: null, updatedAt: at(10) },
      null,
      { deviceId: d4, state: 'failed', reason: 'decode', played: 1, startedAt: null, updatedAt: at(10) },
      null,
      null,
      null,
    ]);
    expect(await repo.advanceAll([])).toEqual([]);
    const many = all.slice(500).map((d) => ({ alertId: 'A1', deviceId: d.deviceId, next: 'received' as const, at: at(13) })); // more than one chunk
    const moved = await repo.advanceAll(many);
    expect(moved.map((x) => x && [x.deviceId, x.state])).toEqual(many.map((m) => [m.deviceId, 'received']));
  });

  it('two processes reporting on the same deliveries at once never move one back', async () => {
    const devices = all.slice(100, 300).map((d) => d.deviceId);
    // Each device: one process says finished while the other says received, started, then offline.
    await Promise.all(
      devices.flatMap((d) => [
        other.advance('A1', d, 'finished', at(20), { played: 2 }),
        repo.advance('A1', d, 'received', at(20)),
        repo.advanceAll([
          { alertId: 'A1', deviceId: d, next: 'started', at: at(20) },
          { alertId: 'A1', deviceId: d, next: 'offline', at: at(20) },
        ]),
      ]),
    );
    const after = (await repo.deliveries('A1')).filter((x) => devices.includes(x.deviceId));
    expect(after.map((x) => [x.state, x.played])).toEqual(devices.map(() => ['finished', 2]));
  });

  it('ends an alert once, with its waiting deliveries, when two processes end it at once', async () => {
    await repo.insert(alert('A2', { createdAt: at(1) }), all.slice(0, 10));
    expect(await repo.advance('A2', deviceId(5), 'received', at(2))).toMatchObject({ state: 'received' });
    const [one, two] = await Promise.all([repo.end('A2', 'cancelled', at(3), null, 'cancelled'), other.end('A2', 'expired', at(3), null, 'expired')]);
    expect([one, two].filter((x) => x !== null)).toHaveLength(1);
    const ended = (one ?? two)!;
    const state = one ? 'cancelled' : 'expired';
    expect(ended.map((d) => d.deviceId)).toEqual(all.slice(0, 10).map((d) => d.deviceId).filter((d) => d !== deviceId(5)));
    expect(ended.every((d) => d.state === state && d.updatedAt === at(3))).toBe(true);
    expect(await repo.get('A2')).toMatchObject({ state, endedAt: at(3), replacedBy: null });
    expect(await repo.end('A2', 'replaced', at(4), 'A3', 'cancelled')).toBeNull();
    expect((await repo.deliveries('A2')).find((d) => d.deviceId === deviceId(5))).toMatchObject({ state: 'received' });
    expect((await repo.openFor(deviceId(5))).map((a) => a.id)).toEqual(['A1']);
  });

  it('keeps the id of the alert that replaced one, and counts for the metrics', async () => {
    await repo.insert(alert('A3', { createdAt: at(2) }), all.slice(0, 3));
    expect(await repo.end('A3', 'replaced', at(5), 'A4', 'cancelled')).toHaveLength(3);
    expect(await repo.get('A3')).toMatchObject({ state: 'replaced', replacedBy: 'A4' });
    expect((await repo.list(2)).map((a) => a.id)).toEqual(['A3', 'A2']);
    expect((await repo.list(10)).map((a) => a.id)).toEqual(['A3', 'A2', 'A1']);
    const states = await repo.countsByState();
    expect(states.active).toBe(1);
    expect(states.replaced).toBe(1);
    expect(Object.values(states).reduce((n, x) => n + x, 0)).toBe(3);
    const active = await repo.activeDeliveryCounts();
    expect(Object.values(active).reduce((n, x) => n + x, 0)).toBe(DEVICES);
    expect(active.finished).toBe(200);
  });
});
