/** Playback reports: stored idempotently by the id the agent made, queried for the province's reports. */
import type { PlayReport } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { timeAndDeviceFilters } from '../store/list-filters.js';
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

type Row = {
  report_id: string;
  device_id: string;
  play_id: string;
  schedule_id: string;
  content_id: string;
  status: PlayReport['status'];
  reason: string | null;
  scheduled_at: string;
  started_at: string | null;
  ended_at: string | null;
  played_ms: number;
  amp_error: string | null;
  received_at: string;
};

function toReport(r: Row): StoredReport {
  const out: StoredReport = {
    reportId: r.report_id,
    deviceId: r.device_id,
    playId: r.play_id,
    scheduleId: r.schedule_id,
    contentId: r.content_id,
    status: r.status,
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
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Inserts once. 'resent': this report (same id) is stored already; 'taken': another report
   * already gave this play its final state, which no later report rewrites.
   */
  insert(deviceId: string, report: PlayReport): 'stored' | 'resent' | 'taken' {
    const result = this.db
      .prepare(
        `INSERT INTO reports (report_id, device_id, play_id, schedule_id, content_id, status, reason, scheduled_at, started_at, ended_at, played_ms, amp_error, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(
        report.reportId,
        deviceId,
        report.playId,
        report.scheduleId,
        report.contentId,
        report.status,
        report.reason ?? null,
        report.scheduledAt,
        report.startedAt ?? null,
        report.endedAt ?? null,
        report.playedMs,
        report.ampError ?? null,
        iso(this.now()),
      );
    if (result.changes > 0) return 'stored';
    return this.db.prepare('SELECT 1 FROM reports WHERE report_id = ?').get(report.reportId) ? 'resent' : 'taken';
  }

  /** Keeps a refused report, whole, for the record; false when this report was refused before. */
  refuse(deviceId: string, report: PlayReport, refusal: ReportRefusal): boolean {
    const { v: _v, ...body } = report;
    return (
      this.db
        .prepare(
          `INSERT INTO refused_reports (report_id, device_id, play_id, status, played_ms, refusal, report_json, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (report_id) DO NOTHING`,
        )
        .run(report.reportId, deviceId, report.playId, report.status, report.playedMs, refusal, JSON.stringify(body), iso(this.now())).changes > 0
    );
  }

  /** Refused reports kept, by refusal. */
  refusedCounts(): Record<ReportRefusal, number> {
    const counts = Object.fromEntries(REPORT_REFUSALS.map((r) => [r, 0])) as Record<ReportRefusal, number>;
    for (const row of this.db.prepare('SELECT refusal, COUNT(*) AS n FROM refused_reports GROUP BY refusal').all() as { refusal: ReportRefusal; n: number }[]) counts[row.refusal] = row.n;
    return counts;
  }

  /** Stored reports, by outcome. */
  countsByStatus(): Record<string, number> {
    const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM reports GROUP BY status').all() as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  query(q: ReportQuery): StoredReport[] {
    const { where, params } = timeAndDeviceFilters('scheduled_at', q);
    const sql = `SELECT * FROM reports ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY scheduled_at DESC, device_id LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit ?? 10_000) as Row[]).map(toReport);
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
