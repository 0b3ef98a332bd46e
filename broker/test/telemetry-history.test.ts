/** Telemetry history, on SQLite and on PostgreSQL: hourly aggregates, and retention pruning in batches. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Telemetry } from '@loalang/protocol';
import { databases, freshPostgres, type TestDialect } from '@loalang/test-kit';
import { openStore, type Database, type Store } from '../src/store/database.js';
import { AreaRepo } from '../src/areas/areas.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { TelemetryHistory } from '../src/devices/telemetry-history.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const now = Date.parse('2026-11-22T12:00:00Z');

const sample = (at: number, extra: Partial<Telemetry> = {}): Telemetry => ({ v: 1, at: new Date(at).toISOString(), agentVersion: 't', uptimeSec: 1, desiredVersion: 0, outboxPending: 0, ...extra });

describe.each(databases())('telemetry history on $dialect', ({ dialect, skip }: { dialect: TestDialect; skip: boolean }) => {
  let dir: string;
  let store: Store;
  let db: Database;
  let history: TelemetryHistory;
  let deviceId: string;

  beforeAll(async () => {
    if (skip) return;
    dir = mkdtempSync(join(tmpdir(), 'loalang-telemetry-'));
    store = await openStore({ ...(dialect === 'postgres' ? { url: await freshPostgres('telemetry') } : {}), file: join(dir, 'loalang.db') });
    db = store.db;
    const areas = new AreaRepo(db);
    const area = await areas.create({ name: 'Xã', parentId: null });
    deviceId = (await new DeviceRepo(db, areas).create({ name: 'Loa', areaId: area.id })).device.id;
    history = new TelemetryHistory(db);
  });
  afterAll(async () => {
    if (skip) return;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(skip)('keeps hourly aggregates: averages, maxima and minima, with missing figures left out', async () => {
    const h = Date.parse('2026-11-22T10:00:00Z');
    await history.record(deviceId, sample(h + 60_000, { cpuLoad1: 0.5, cpuTemperatureC: 50, diskFreeBytes: 900, network: { type: 'lte', signalPercent: 60 } }), h + 60_000);
    await history.record(deviceId, sample(h + 120_000, { cpuLoad1: 1.5, cpuTemperatureC: 61.5, diskFreeBytes: 800, amp: { power: true, faults: [], linkOk: true, temperatureC: 45 } }), h + 120_000);
    await history.record(deviceId, sample(h + 180_000), h + 180_000);
    expect(await history.hourly(deviceId, h, h + HOUR)).toEqual([
      { hour: '2026-11-22T10:00:00.000Z', samples: 3, cpuLoadAvg: 1, cpuTemperatureMaxC: 61.5, ampTemperatureMaxC: 45, memUsedMaxBytes: null, diskFreeMinBytes: 800, signalAvgPercent: 60 },
    ]);
    expect(await history.raw(deviceId, h, h + HOUR)).toHaveLength(3);
    // A box whose clock is far off is filed under the time the server received it.
    await history.record(deviceId, sample(Date.parse('2001-01-01T00:00:00Z')), h + 200_000);
    expect(await history.raw(deviceId, h, h + HOUR)).toHaveLength(4);
  });

  it.skipIf(skip)('prunes raw samples after 7 days and aggregates after a year, in batches', async () => {
    const raw = [
      ...Array.from({ length: 12_000 }, (_, i) => new Date(now - 8 * DAY - i * 1000).toISOString()), // too old
      ...Array.from({ length: 100 }, (_, i) => new Date(now - 6 * DAY - i * 1000).toISOString()), // kept
    ].map((at) => ({ device_id: deviceId, at, data: '{}' }));
    const hours = [...new Set(Array.from({ length: 400 }, (_, d) => new Date(Math.floor((now - d * DAY) / HOUR) * HOUR).toISOString()))];
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < raw.length; i += 1000) await trx.insertInto('telemetry').values(raw.slice(i, i + 1000)).execute();
      await trx
        .insertInto('telemetry_hourly')
        .values(hours.map((hour) => ({ device_id: deviceId, hour, samples: 1 })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    });
    const result = await history.prune(now);
    expect(result.raw).toBe(12_000);
    expect(result.batches).toBeGreaterThanOrEqual(4); // 12,000 rows in batches of 5,000, then the hourly pass
    // The 100 of six days ago and the four of today stay.
    const counted = await db.selectFrom('telemetry').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(counted.n)).toBe(104);
    const oldestHour = (await db.selectFrom('telemetry_hourly').select((eb) => eb.fn.min('hour').as('h')).executeTakeFirstOrThrow()).h as string;
    expect(Date.parse(oldestHour)).toBeGreaterThanOrEqual(now - 365 * DAY);
    expect(result.hourly).toBeGreaterThan(30);
  });
});
