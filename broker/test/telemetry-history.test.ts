/** Telemetry history on a real SQLite file: hourly aggregates, and retention pruning in batches. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Telemetry } from '@loalang/protocol';
import { openDatabase, type Db } from '../src/store/db.js';
import { sqliteKysely } from '../src/store/database.js';
import { AreaRepo } from '../src/areas/areas.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { TelemetryHistory } from '../src/devices/telemetry-history.js';

let dir: string;
let db: Db;
let history: TelemetryHistory;
let deviceId: string;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const now = Date.parse('2026-11-22T12:00:00Z');

const sample = (at: number, extra: Partial<Telemetry> = {}): Telemetry => ({ v: 1, at: new Date(at).toISOString(), agentVersion: 't', uptimeSec: 1, desiredVersion: 0, outboxPending: 0, ...extra });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-telemetry-'));
  db = openDatabase(join(dir, 'loalang.db'));
  const areas = new AreaRepo(db);
  const area = areas.create({ name: 'Xã', parentId: null });
  deviceId = (await new DeviceRepo(db, areas).create({ name: 'Loa', areaId: area.id })).device.id;
  history = new TelemetryHistory(sqliteKysely(db));
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('telemetry history', () => {
  it('keeps hourly aggregates: averages, maxima and minima, with missing figures left out', async () => {
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

  it('prunes raw samples after 7 days and aggregates after a year, in batches', async () => {
    const insert = db.prepare('INSERT INTO telemetry (device_id, at, data) VALUES (?, ?, ?)');
    const hourly = db.prepare('INSERT OR IGNORE INTO telemetry_hourly (device_id, hour, samples) VALUES (?, ?, 1)');
    db.transaction(() => {
      for (let i = 0; i < 12_000; i++) insert.run(deviceId, new Date(now - 8 * DAY - i * 1000).toISOString(), '{}'); // too old
      for (let i = 0; i < 100; i++) insert.run(deviceId, new Date(now - 6 * DAY - i * 1000).toISOString(), '{}'); // kept
      for (let d = 0; d < 400; d++) hourly.run(deviceId, new Date(Math.floor((now - d * DAY) / HOUR) * HOUR).toISOString());
    })();
    const result = await history.prune(now);
    expect(result.raw).toBe(12_000);
    expect(result.batches).toBeGreaterThanOrEqual(4); // 12,000 rows in batches of 5,000, then the hourly pass
    // The 100 of six days ago and the four of today stay.
    expect((db.prepare('SELECT COUNT(*) AS n FROM telemetry').get() as { n: number }).n).toBe(104);
    const oldestHour = (db.prepare('SELECT MIN(hour) AS h FROM telemetry_hourly').get() as { h: string }).h;
    expect(Date.parse(oldestHour)).toBeGreaterThanOrEqual(now - 365 * DAY);
    expect(result.hourly).toBeGreaterThan(30);
  });
});
