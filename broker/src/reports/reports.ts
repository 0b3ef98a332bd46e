/** Playback reports: stored idempotently by the id the agent made, queried for the province's reports. */
import type { PlayReport } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import { timeAndDeviceWhere } from '../store/portable.js';
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
  async insert(deviceId: string, report: PlayReport): Promise<'stored' | 'resent' | 'taken'> {
    const result = await this.db
      .insertInto('reports')
      .values({
        report_id: report.reportId,
        device_id: deviceId,
        play_id: report.playId,
        schedule_id: report.scheduleId,
        content_id: report.contentId,
        status: report.status,
        reason: report.reason ?? null,
        scheduled_at: report.scheduledAt,
        started_at: report.startedAt ?? null,
        ended_at: report.endedAt ?? null,
        played_ms: report.playedMs,
        amp_error: report.ampError ?? null,
        received_at: iso(this.now()),
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if ((result.numInsertedOrUpdatedRows ?? 0n) > 0n) return 'stored';
    const same = await this.db.selectFrom('reports').select('report_id').where('report_id', '=', report.reportId).executeTakeFirst();
    return same ? 'resent' : 'taken';
  }

  /**
   * Keeps a refused report, whole, for the record; false when this report was refused before.
   * Idempotent by the unique report id (ON CONFLICT DO NOTHING), so two servers refusing the
   * same report record it once.
   */
  async refuse(deviceId: string, report: PlayReport, refusal: ReportRefusal): Promise<boolean> {
    const { v: _v, ...body } = report;
    const result = await this.db
      .insertInto('refused_reports')
      .values({
        report_id: report.reportId,
        device_id: deviceId,
        play_id: report.playId,
        status: report.status,
        played_ms: report.playedMs,
        refusal,
        report_json: JSON.stringify(body),
        received_at: iso(this.now()),
      })
      .onConflict((oc) => oc.column('report_id').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
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
