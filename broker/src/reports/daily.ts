/**
 * The report provinces ask for: per item and day, how many times it played to the end and
 * for how many seconds, per device or per area. Days are local dates in the given timezone.
 */
import type { StoredReport } from './reports.js';
import { localDate } from '../schedules/recurrence.js';

export interface DailyRow {
  date: string;
  contentId: string;
  /** A device id or an area id, by the grouping asked for. */
  groupId: string;
  plays: number;
  seconds: number;
  interrupted: number;
  failed: number;
  skipped: number;
}

export function dailyTotals(reports: StoredReport[], groupOf: (r: StoredReport) => string, timeZone: string): DailyRow[] {
  const rows = new Map<string, DailyRow>();
  for (const r of reports) {
    const date = localDate(new Date(r.startedAt ?? r.scheduledAt), timeZone);
    const groupId = groupOf(r);
    const key = `${date}|${r.contentId}|${groupId}`;
    let row = rows.get(key);
    if (!row) {
      row = { date, contentId: r.contentId, groupId, plays: 0, seconds: 0, interrupted: 0, failed: 0, skipped: 0 };
      rows.set(key, row);
    }
    if (r.status === 'completed') row.plays++;
    else row[r.status]++;
    row.seconds += r.playedMs / 1000;
  }
  return [...rows.values()]
    .map((r) => ({ ...r, seconds: Math.round(r.seconds) }))
    .sort((a, b) => a.date.localeCompare(b.date) || a.contentId.localeCompare(b.contentId) || a.groupId.localeCompare(b.groupId));
}
