/**
 * Telemetry history: every sample raw for a week, and per device and hour an aggregate kept
 * for a year (both configurable). Aggregates are updated as samples arrive; pruning deletes
 * in small batches and yields between them, so the server keeps answering while it runs.
 */
import type { Telemetry } from '@loalang/protocol';
import type { ExpressionBuilder, OnConflictDatabase, OnConflictTables } from 'kysely';
import type { Database } from '../store/database.js';
import type { Schema } from '../store/schema.js';
import { iso } from '../time.js';
import { nextTurn } from '../next-turn.js';

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

type HourlyEb = ExpressionBuilder<OnConflictDatabase<Schema, 'telemetry_hourly'>, OnConflictTables<'telemetry_hourly'>>;
type Extreme = 'cpu_temp_max' | 'amp_temp_max' | 'mem_used_max' | 'disk_free_min';
/**
 * The stored or the new value of `c`, whichever is larger (`keep` '>') or smaller ('<'), where
 * either may be null. Spelt as CASE: SQLite's two-argument max()/min() and PostgreSQL's
 * GREATEST/LEAST differ on NULLs and in name.
 */
const extreme = (eb: HourlyEb, c: Extreme, keep: '>' | '<') => {
  const old = eb.ref(`telemetry_hourly.${c}`);
  const add = eb.ref(`excluded.${c}`);
  return eb.case().when(old, 'is', null).then(add).when(add, 'is', null).then(old).when(add, keep, old).then(add).else(old).end();
};

export class TelemetryHistory {
  constructor(private readonly db: Database) {}

  /**
   * Stores the sample and adds it to its hour's aggregate. The aggregate is one upsert that adds
   * to what is stored (`samples = telemetry_hourly.samples + excluded.samples`, …), never a read
   * then a write, so samples recorded at once (two server processes) are all counted.
   */
  async record(deviceId: string, t: Telemetry, receivedAt: number): Promise<void> {
    // The device's own time is used unless it is far off (a box with a wrong clock).
    const deviceAt = Date.parse(t.at);
    const at = Math.abs(deviceAt - receivedAt) < 3600_000 ? deviceAt : receivedAt;
    const hour = iso(Math.floor(at / 3600_000) * 3600_000);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('telemetry').values({ device_id: deviceId, at: iso(at), data: JSON.stringify(t) }).execute();
      await trx
        .insertInto('telemetry_hourly')
        .values({
          device_id: deviceId,
          hour,
          samples: 1,
          cpu_load_sum: t.cpuLoad1 ?? 0,
          cpu_load_n: t.cpuLoad1 === undefined ? 0 : 1,
          cpu_temp_max: t.cpuTemperatureC ?? null,
          amp_temp_max: t.amp?.temperatureC ?? null,
          mem_used_max: t.memUsedBytes ?? null,
          disk_free_min: t.diskFreeBytes ?? null,
          signal_sum: t.network?.signalPercent ?? 0,
          signal_n: t.network?.signalPercent === undefined ? 0 : 1,
        })
        .onConflict((oc) =>
          oc.columns(['device_id', 'hour']).doUpdateSet((eb) => ({
            samples: eb('telemetry_hourly.samples', '+', eb.ref('excluded.samples')),
            cpu_load_sum: eb('telemetry_hourly.cpu_load_sum', '+', eb.ref('excluded.cpu_load_sum')),
            cpu_load_n: eb('telemetry_hourly.cpu_load_n', '+', eb.ref('excluded.cpu_load_n')),
            cpu_temp_max: extreme(eb, 'cpu_temp_max', '>'),
            amp_temp_max: extreme(eb, 'amp_temp_max', '>'),
            mem_used_max: extreme(eb, 'mem_used_max', '>'),
            disk_free_min: extreme(eb, 'disk_free_min', '<'),
            signal_sum: eb('telemetry_hourly.signal_sum', '+', eb.ref('excluded.signal_sum')),
            signal_n: eb('telemetry_hourly.signal_n', '+', eb.ref('excluded.signal_n')),
          })),
        )
        .execute();
    });
  }

  async raw(deviceId: string, from: number, until: number, limit = 10_000): Promise<{ at: string; telemetry: Telemetry }[]> {
    const rows = await this.db.selectFrom('telemetry').select(['at', 'data']).where('device_id', '=', deviceId).where('at', '>=', iso(from)).where('at', '<', iso(until)).orderBy('at').limit(limit).execute();
    return rows.map((r) => ({ at: r.at, telemetry: JSON.parse(r.data) as Telemetry }));
  }

  async hourly(deviceId: string, from: number, until: number): Promise<HourlyTelemetry[]> {
    const rows = await this.db.selectFrom('telemetry_hourly').selectAll().where('device_id', '=', deviceId).where('hour', '>=', iso(from)).where('hour', '<', iso(until)).orderBy('hour').execute();
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
    // A batch is picked by key in a subquery (no rowid in PostgreSQL; DELETE … LIMIT is SQLite's
    // alone). Raw samples have no key: a batch takes every copy of a (device, time) it names,
    // all of them past the cut-off anyway.
    const rawBefore = iso(now - retention.rawMs);
    const hourlyBefore = iso(now - retention.hourlyMs);
    const steps: [keyof typeof out, () => Promise<bigint>][] = [
      [
        'raw',
        async () =>
          (
            await this.db
              .deleteFrom('telemetry')
              .where(({ eb, refTuple, selectFrom }) => eb(refTuple('device_id', 'at'), 'in', selectFrom('telemetry').select(['device_id', 'at']).where('at', '<', rawBefore).limit(BATCH).$asTuple('device_id', 'at')))
              .executeTakeFirst()
          ).numDeletedRows,
      ],
      [
        'hourly',
        async () =>
          (
            await this.db
              .deleteFrom('telemetry_hourly')
              .where(({ eb, refTuple, selectFrom }) => eb(refTuple('device_id', 'hour'), 'in', selectFrom('telemetry_hourly').select(['device_id', 'hour']).where('hour', '<', hourlyBefore).limit(BATCH).$asTuple('device_id', 'hour')))
              .executeTakeFirst()
          ).numDeletedRows,
      ],
    ];
    for (const [key, step] of steps) {
      for (;;) {
        const n = Number(await step());
        out[key] += n;
        out.batches++;
        if (n < BATCH) break;
        await nextTurn();
      }
    }
    return out;
  }
}
