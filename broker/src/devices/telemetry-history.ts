/**
 * Telemetry history: every sample raw for a week, and per device and hour an aggregate kept
 * for a year (both configurable). Aggregates are updated as samples arrive; pruning deletes
 * in small batches and yields between them, so the server keeps answering while it runs.
 */
import type { Telemetry } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { iso } from '../time.js';

export interface TelemetryRetention {
  rawMs: number;
  hourlyMs: number;
}
export const DEFAULT_TELEMETRY_RETENTION: TelemetryRetention = { rawMs: 7 * 24 * 3600_000, hourlyMs: 365 * 24 * 3600_000 };

export interface HourlyTelemetry {
  hour: string;
  samples: number;
  cpuLoadAvg: number | null;
  cpuTemperatureMaxC: number | null;
  ampTemperatureMaxC: number | null;
  memUsedMaxBytes: number | null;
  diskFreeMinBytes: number | null;
  signalAvgPercent: number | null;
}

const BATCH = 5000;
/** Larger of two values where either may be null (SQLite's max() of a NULL is NULL). */
const greatest = (c: string) => `CASE WHEN ${c} IS NULL THEN excluded.${c} WHEN excluded.${c} IS NULL THEN ${c} ELSE max(${c}, excluded.${c}) END`;
const least = (c: string) => `CASE WHEN ${c} IS NULL THEN excluded.${c} WHEN excluded.${c} IS NULL THEN ${c} ELSE min(${c}, excluded.${c}) END`;

export class TelemetryHistory {
  constructor(private readonly db: Db) {}

  record(deviceId: string, t: Telemetry, receivedAt: number): void {
    // The device's own time is used unless it is far off (a box with a wrong clock).
    const deviceAt = Date.parse(t.at);
    const at = Math.abs(deviceAt - receivedAt) < 3600_000 ? deviceAt : receivedAt;
    const hour = iso(Math.floor(at / 3600_000) * 3600_000);
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO telemetry (device_id, at, data) VALUES (?, ?, ?)').run(deviceId, iso(at), JSON.stringify(t));
      this.db
        .prepare(
          `INSERT INTO telemetry_hourly (device_id, hour, samples, cpu_load_sum, cpu_load_n, cpu_temp_max, amp_temp_max, mem_used_max, disk_free_min, signal_sum, signal_n)
           VALUES (@deviceId, @hour, 1, @load, @loadN, @cpuTemp, @ampTemp, @mem, @disk, @signal, @signalN)
           ON CONFLICT(device_id, hour) DO UPDATE SET samples = samples + 1,
             cpu_load_sum = cpu_load_sum + excluded.cpu_load_sum, cpu_load_n = cpu_load_n + excluded.cpu_load_n,
             cpu_temp_max = ${greatest('cpu_temp_max')}, amp_temp_max = ${greatest('amp_temp_max')},
             mem_used_max = ${greatest('mem_used_max')}, disk_free_min = ${least('disk_free_min')},
             signal_sum = signal_sum + excluded.signal_sum, signal_n = signal_n + excluded.signal_n`,
        )
        .run({
          deviceId,
          hour,
          load: t.cpuLoad1 ?? 0,
          loadN: t.cpuLoad1 === undefined ? 0 : 1,
          cpuTemp: t.cpuTemperatureC ?? null,
          ampTemp: t.amp?.temperatureC ?? null,
          mem: t.memUsedBytes ?? null,
          disk: t.diskFreeBytes ?? null,
          signal: t.network?.signalPercent ?? 0,
          signalN: t.network?.signalPercent === undefined ? 0 : 1,
        });
    })();
  }

  raw(deviceId: string, from: number, until: number, limit = 10_000): { at: string; telemetry: Telemetry }[] {
    return (this.db.prepare('SELECT at, data FROM telemetry WHERE device_id = ? AND at >= ? AND at < ? ORDER BY at LIMIT ?').all(deviceId, iso(from), iso(until), limit) as { at: string; data: string }[]).map(
      (r) => ({ at: r.at, telemetry: JSON.parse(r.data) as Telemetry }),
    );
  }

  hourly(deviceId: string, from: number, until: number): HourlyTelemetry[] {
    type Row = { hour: string; samples: number; cpu_load_sum: number; cpu_load_n: number; cpu_temp_max: number | null; amp_temp_max: number | null; mem_used_max: number | null; disk_free_min: number | null; signal_sum: number; signal_n: number };
    const rows = this.db.prepare('SELECT * FROM telemetry_hourly WHERE device_id = ? AND hour >= ? AND hour < ? ORDER BY hour').all(deviceId, iso(from), iso(until)) as Row[];
    return rows.map((r) => ({
      hour: r.hour,
      samples: r.samples,
      cpuLoadAvg: r.cpu_load_n ? Math.round((r.cpu_load_sum / r.cpu_load_n) * 100) / 100 : null,
      cpuTemperatureMaxC: r.cpu_temp_max,
      ampTemperatureMaxC: r.amp_temp_max,
      memUsedMaxBytes: r.mem_used_max,
      diskFreeMinBytes: r.disk_free_min,
      signalAvgPercent: r.signal_n ? Math.round(r.signal_sum / r.signal_n) : null,
    }));
  }

  /**
   * Deletes raw samples and hourly aggregates past their retention, `BATCH` rows at a time,
   * yielding to the event loop between batches. Returns how many rows went.
   */
  async prune(now: number, retention: TelemetryRetention = DEFAULT_TELEMETRY_RETENTION): Promise<{ raw: number; hourly: number; batches: number }> {
    const out = { raw: 0, hourly: 0, batches: 0 };
    const steps: [keyof typeof out, string, string][] = [
      ['raw', 'DELETE FROM telemetry WHERE rowid IN (SELECT rowid FROM telemetry WHERE at < ? LIMIT ?)', iso(now - retention.rawMs)],
      ['hourly', 'DELETE FROM telemetry_hourly WHERE rowid IN (SELECT rowid FROM telemetry_hourly WHERE hour < ? LIMIT ?)', iso(now - retention.hourlyMs)],
    ];
    for (const [key, sql, before] of steps) {
      const stmt = this.db.prepare(sql);
      for (;;) {
        const n = stmt.run(before, BATCH).changes;
        out[key] += n;
        out.batches++;
        if (n < BATCH) break;
        await new Promise((r) => setImmediate(r));
      }
    }
    return out;
  }
}
