/** Playback reports: stored idempotently by the id the agent made, queried for the province's reports. */
import type { PlayReport } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { sql } from 'kysely';
import { inList, timeAndDeviceWhere, tuplesTable, type Executor } from '../store/portable.js';
import { codeUnitOrder, isConflictVictim } from '../store/conflicts.js';
import type { ReportsTable } from '../store/schema.js';
import { iso } from '../time.js';

export interface StoredReport extends Omit<PlayReport, 'v'> {
  deviceId: string;
  receivedAt: string;
}

export interface ReportQuery {
  from?: string;
  to?: string;
  deviceIds?: Set<string>;
  limit?: number;
}

type Row = ReportsTable;

function toReport(r: Row): StoredReport {
  const out: StoredReport = {
    reportId: r.report_id,
    deviceId: r.device_id,
    playId: r.play_id,
    scheduleId: r.schedule_id,
    contentId: r.content_id,
    status: r.status as PlayReport['status'],
    scheduledAt: r.scheduled_at,
    playedMs: r.played_ms,
    receivedAt: r.received_at,
  };
  if (r.reason !== null) out.reason = r.reason;
  if (r.started_at !== null) out.startedAt = r.started_at;
  if (r.ended_at !== null) out.endedAt = r.ended_at;
  if (r.amp_error !== null) out.ampError = r.amp_error;
  return out;
}

/** Why a report was turned away (issue 14); counted in /metrics and written to the audit log. */
export const REPORT_REFUSALS = ['unknown-play', 'wrong-schedule', 'too-long', 'inconsistent', 'already-reported'] as const;
export type ReportRefusal = (typeof REPORT_REFUSALS)[number];

/** What `insert` found: stored now, this very report stored before, or its play taken by another report. */
export type InsertOutcome = 'stored' | 'resent' | 'taken';

/** A report and the (authenticated) device it came from. */
export interface ReportEntry {
  deviceId: string;
  report: PlayReport;
}

/** Rows per INSERT (they travel as a few parameters, see selectRows; this bounds one statement's work). */
const CHUNK = 1000;

const REPORT_COLUMNS = ['report_id', 'device_id', 'play_id', 'schedule_id', 'content_id', 'status', 'reason', 'scheduled_at', 'started_at', 'ended_at', 'played_ms', 'amp_error', 'received_at'] as const;
const REFUSED_COLUMNS = ['report_id', 'device_id', 'play_id', 'status', 'played_ms', 'refusal', 'report_json', 'received_at'] as const;

/**
 * The rows as a SELECT for INSERT … SELECT: whatever their number, the statement text is the
 * same, so it is prepared once (SQLite) and a batch binds a few parameters instead of 13 per
 * row. `played_ms` travels as text and is cast back. (`WHERE true`: SQLite's grammar wants a
 * WHERE before an upsert clause on INSERT … SELECT.)
 */
function selectRows<C extends string>(executor: Executor, columns: readonly C[], rows: readonly (readonly (string | null)[])[]) {
  const picks = columns.map((c) => (c === 'played_ms' ? sql`CAST(t.played_ms AS BIGINT)` : sql.ref(`t.${c}`)));
  return sql`SELECT ${sql.join(picks)} FROM (${tuplesTable(executor, columns, rows)}) t WHERE true`;
}
/** Ids per lookup of reports not inserted (one parameter however many; this bounds the statement's work). */
const ID_CHUNK = 5000;
/** Runs of a batch's transaction when PostgreSQL picked it as a deadlock's victim (see `transaction`). */
const TRANSACTION_TRIES = 3;



/** By device, then play; reports of one play stay in the order they came (the first one wins). */
function compareKeys(a: ReportEntry, b: ReportEntry): number {
  return codeUnitOrder(a.deviceId, b.deviceId) || codeUnitOrder(a.report.playId, b.report.playId);
}

const rowKey = (reportId: string, deviceId: string, playId: string) => JSON.stringify([reportId, deviceId, playId]);

export class ReportRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Inserts once. 'resent': this report (same id) is stored already; 'taken': another report
   * already gave this play its final state, which no later report rewrites.
   *
   * Two servers may ingest the same report (or two reports of one play) at once, so nothing is
   * checked before writing: the insert does nothing on either unique key (report_id, and
   * device_id + play_id), and only then is the stored row asked which key it was.
   */
  async insert(deviceId: string, report: PlayReport): Promise<InsertOutcome> {
    const [outcome] = await this.insertMany([{ deviceId, report }]);
    return outcome!;
  }

  /**
   * `insert` for a batch (issue 16): one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING
   * for all, then one query for the ids of those not inserted (there: 'resent'; not there:
   * 'taken'). Outcomes in the order of `items`.
   *
   * Within the batch it answers as the reports one after the other would: of two with one id,
   * or two of one play, the first is stored and the other resent or taken. The rows go in
   * ordered by device and play (then as they came), so two transactions inserting overlapping
   * batches take the unique keys' locks in the same order instead of waiting on each other.
   * `executor`: the caller's transaction.
   */
  async insertMany(items: readonly ReportEntry[], executor: Executor = this.db): Promise<InsertOutcome[]> {
    if (items.length === 0) return [];
    const receivedAt = iso(this.now());
    const order = items.map((_, i) => i).sort((a, b) => compareKeys(items[a]!, items[b]!) || a - b);
    const inserted: { report_id: string; device_id: string; play_id: string }[] = [];
    for (let i = 0; i < order.length; i += CHUNK) {
      const rows = order.slice(i, i + CHUNK).map((j) => {
        const { deviceId, report: r } = items[j]!;
        return [r.reportId, deviceId, r.playId, r.scheduleId, r.contentId, r.status, r.reason ?? null, r.scheduledAt, r.startedAt ?? null, r.endedAt ?? null, String(r.playedMs), r.ampError ?? null, receivedAt];
      });
      inserted.push(
        ...(await executor
          .insertInto('reports')
          .columns(REPORT_COLUMNS)
          .expression(selectRows(executor, REPORT_COLUMNS, rows))
          .onConflict((oc) => oc.doNothing())
          .returning(['report_id', 'device_id', 'play_id'])
          .execute()),
      );
    }
    // Each inserted row is one item's: the first (in the order inserted) with its id, device and play.
    const unclaimed = new Map<string, number>();
    for (const r of inserted) {
      const key = rowKey(r.report_id, r.device_id, r.play_id);
      unclaimed.set(key, (unclaimed.get(key) ?? 0) + 1);
    }
    const out: (InsertOutcome | undefined)[] = new Array(items.length);
    const rest: number[] = [];
    for (const j of order) {
      const { deviceId, report } = items[j]!;
      const key = rowKey(report.reportId, deviceId, report.playId);
      const n = unclaimed.get(key) ?? 0;
      if (n > 0) {
        unclaimed.set(key, n - 1);
        out[j] = 'stored';
      } else rest.push(j);
    }
    if (rest.length > 0) {
      const ids = new Set(rest.map((j) => items[j]!.report.reportId));
      const present = new Set<string>();
      const list = [...ids];
      for (let i = 0; i < list.length; i += ID_CHUNK) {
        const rows = await executor.selectFrom('reports').select('report_id').where(inList(executor, 'report_id', list.slice(i, i + ID_CHUNK))).execute();
        for (const r of rows) present.add(r.report_id);
      }
      for (const j of rest) out[j] = present.has(items[j]!.report.reportId) ? 'resent' : 'taken';
    }
    return out as InsertOutcome[];
  }

  /**
   * Keeps a refused report, whole, for the record; false when this report was refused before.
   * Idempotent by the unique report id (ON CONFLICT DO NOTHING), so two servers refusing the
   * same report record it once.
   */
  async refuse(deviceId: string, report: PlayReport, refusal: ReportRefusal): Promise<boolean> {
    const [first] = await this.refuseMany([{ deviceId, report, refusal }]);
    return first!;
  }

  /**
   * `refuse` for a batch: one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING; true for the
   * items that were recorded now (of two with one id, the first). In report-id order, for the
   * same reason as insertMany.
   */
  async refuseMany(items: readonly (ReportEntry & { refusal: ReportRefusal })[], executor: Executor = this.db): Promise<boolean[]> {
    if (items.length === 0) return [];
    const receivedAt = iso(this.now());
    const order = items.map((_, i) => i).sort((a, b) => codeUnitOrder(items[a]!.report.reportId, items[b]!.report.reportId) || a - b);
    const recorded = new Set<string>();
    for (let i = 0; i < order.length; i += CHUNK) {
      const rows = order.slice(i, i + CHUNK).map((j) => {
        const { deviceId, report, refusal } = items[j]!;
        const { v: _v, ...body } = report;
        return [report.reportId, deviceId, report.playId, report.status, String(report.playedMs), refusal, JSON.stringify(body), receivedAt];
      });
      const result = await executor
        .insertInto('refused_reports')
        .columns(REFUSED_COLUMNS)
        .expression(selectRows(executor, REFUSED_COLUMNS, rows))
        .onConflict((oc) => oc.column('report_id').doNothing())
        .returning('report_id')
        .execute();
      for (const r of result) recorded.add(r.report_id);
    }
    const out: boolean[] = new Array(items.length);
    for (const j of order) {
      const id = items[j]!.report.reportId;
      out[j] = recorded.delete(id);
    }
    return out;
  }

  /**
   * Runs `work` in one transaction, and again (at most TRANSACTION_TRIES times in all) when
   * PostgreSQL ended it as a deadlock's or a serialisation conflict's victim: its statements are
   * idempotent, so running them again is safe. Any other failure is the caller's.
   */
  async transaction<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (err) {
        if (attempt >= TRANSACTION_TRIES || !isConflictVictim(err)) throw err;
      }
    }
  }

  /** Refused reports kept, by refusal. */
  async refusedCounts(): Promise<Record<ReportRefusal, number>> {
    const counts = Object.fromEntries(REPORT_REFUSALS.map((r) => [r, 0])) as Record<ReportRefusal, number>;
    const rows = await this.db
      .selectFrom('refused_reports')
      .select(['refusal', (eb) => eb.fn.countAll().as('n')])
      .groupBy('refusal')
      .execute();
    for (const row of rows) counts[row.refusal as ReportRefusal] = Number(row.n);
    return counts;
  }

  /** Stored reports, by outcome. */
  async countsByStatus(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('reports')
      .select(['status', (eb) => eb.fn.countAll().as('n')])
      .groupBy('status')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** The reports of one schedule (or live session) whose play was due between `from` and `to` (the time index bounds the search). */
  async ofSchedule(scheduleId: string, from: string, to: string, limit = 100_000): Promise<StoredReport[]> {
    const rows = await this.db
      .selectFrom('reports')
      .selectAll()
      .where('scheduled_at', '>=', from)
      .where('scheduled_at', '<=', to)
      .where('schedule_id', '=', scheduleId)
      .orderBy('device_id')
      .orderBy('received_at')
      .limit(limit)
      .execute();
    return rows.map(toReport);
  }

  async query(q: ReportQuery): Promise<StoredReport[]> {
    const rows = await this.db
      .selectFrom('reports')
      .selectAll()
      .where(timeAndDeviceWhere(this.db, 'scheduled_at', q))
      // Ties (one device, one instant) were in insertion order (rowid): received_at, then report_id, say it portably.
      .orderBy('scheduled_at', 'desc')
      .orderBy('device_id')
      .orderBy('received_at')
      .orderBy('report_id')
      .limit(q.limit ?? 10_000)
      .execute();
    return rows.map(toReport);
  }
}

const CSV_COLUMNS = ['reportId', 'deviceId', 'playId', 'scheduleId', 'contentId', 'status', 'reason', 'scheduledAt', 'startedAt', 'endedAt', 'playedMs', 'ampError', 'receivedAt'] as const;

/** Rows of objects as CSV with the given columns (RFC 4180 quoting, formulas neutralised). */
export function toCsv<T extends object>(rows: T[], columns: readonly (keyof T & string)[]): string {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = String(value);
  // Quote when needed; a leading =, +, - or @ is neutralised so spreadsheets do not run it as a formula.
  const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function reportsToCsv(reports: StoredReport[]): string {
  return toCsv(reports, CSV_COLUMNS);
}
