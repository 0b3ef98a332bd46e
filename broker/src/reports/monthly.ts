/**
 * The monthly broadcast report a commune sends its superiors (issue 21, item 4): for one area
 * (and the areas below it) and one local month, every item that went on air — date, time,
 * title, length — with how many speakers played it to the end and which did not, then the
 * month's totals and each speaker's. Built from the stored play reports, as the daily report
 * is; one item is one play of a schedule (its play id, shared by every speaker given it).
 * Days and months are local, in the area's timezone (Asia/Ho_Chi_Minh by default).
 */
import { brokerError } from '../errors.js';
import { localDate, localTime, startOfLocalDay } from '../schedules/recurrence.js';
import { isRelay, relayContentId, type ScheduleItem } from '../schedules/items.js';
import type { ReportQuery, StoredReport } from './reports.js';

/** A speaker that did not play an item to the end, and what it reported. */
export interface MonthlyMiss {
  deviceId: string;
  deviceName: string;
  status: 'interrupted' | 'failed' | 'skipped';
  reason: string | null;
}

export interface MonthlyItem {
  playId: string;
  scheduleId: string;
  contentId: string;
  /** The library item's title, or the relayed stream's. */
  title: string;
  /** Local YYYY-MM-DD and HH:MM the play was due. */
  date: string;
  time: string;
  /** Seconds on air: the longest any speaker played it. */
  seconds: number;
  /** Speakers that played it to the end. */
  completed: number;
  /** Speakers that reported it interrupted, failed or skipped, and which. */
  notPlayed: number;
  misses: MonthlyMiss[];
}

export interface MonthlySpeaker {
  deviceId: string;
  deviceName: string;
  areaId: string;
  completed: number;
  notPlayed: number;
  seconds: number;
}

export interface MonthlyReport {
  areaId: string;
  areaName: string;
  /** The area's administrative codes (its CAP geocodes), for the form's heading. */
  areaCodes: string[];
  month: string;
  timeZone: string;
  /** The month's bounds as instants: from inclusive, to exclusive. */
  from: string;
  to: string;
  items: MonthlyItem[];
  speakers: MonthlySpeaker[];
  totals: { items: number; seconds: number; completed: number; notPlayed: number };
  /** True when the month had more reports than one report reads (MONTHLY_REPORT_LIMIT): the counts are partial. */
  truncated: boolean;
}

/** What the report reads; the server's repositories fit it. */
export interface MonthlySources {
  areas: {
    require(id: string): Promise<{ id: string; name: string; geocodes: string[] }>;
    subtreeIds(id: string): Promise<Set<string>>;
    effectiveTimezone(id: string): Promise<string>;
  };
  devices: { list(filter: { areaIds?: Set<string> }): Promise<{ id: string; name: string; areaId: string }[]> };
  reports: { query(q: ReportQuery): Promise<StoredReport[]> };
  content: { list(): Promise<{ id: string; title: string }[]> };
  schedules: { list(): Promise<{ items: ScheduleItem[] }[]> };
}

/** Reports one monthly report reads at most (a commune of 50 speakers and 20 plays a day needs 31,000). */
export const MONTHLY_REPORT_LIMIT = 500_000;

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The local month's bounds (ms): its first local midnight, and the next month's. */
export function monthBounds(month: string, timeZone: string): { from: number; to: number } {
  const m = MONTH.exec(month);
  if (!m) throw brokerError('LOA_ERR_INVALID', { en: `month must be YYYY-MM, got "${month}"`, vi: `tháng phải có dạng YYYY-MM, nhận được "${month}"` });
  const [y, mm] = [Number(m[1]), Number(m[2])];
  const next = mm === 12 ? `${y + 1}-01-01` : `${y}-${String(mm + 1).padStart(2, '0')}-01`;
  return { from: startOfLocalDay(`${month}-01`, timeZone), to: startOfLocalDay(next, timeZone) };
}

/** The monthly report of an area and its subtree. The caller checks the area is in scope. */
export async function monthlyReport(src: MonthlySources, areaId: string, month: string): Promise<MonthlyReport> {
  const area = await src.areas.require(areaId);
  const timeZone = await src.areas.effectiveTimezone(areaId);
  const { from, to } = monthBounds(month, timeZone);
  return {
    areaId: area.id,
    areaName: area.name,
    areaCodes: area.geocodes,
    month,
    timeZone,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    ...(await broadcastTally(src, areaId, from, to, timeZone)),
  };
}

/**
 * What went on air in an area's subtree between two instants (plays due in [from, to)), tallied
 * per item and speaker: the monthly report's body, and the upstream connector's results of a day.
 */
export async function broadcastTally(src: MonthlySources, areaId: string, from: number, to: number, timeZone: string): Promise<Pick<MonthlyReport, 'items' | 'speakers' | 'totals' | 'truncated'>> {
  const devices = await src.devices.list({ areaIds: await src.areas.subtreeIds(areaId) });
  // The month of a play is the month it was due in (the reports' time index), as its date and time here.
  const reports = await src.reports.query({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), deviceIds: new Set(devices.map((d) => d.id)), limit: MONTHLY_REPORT_LIMIT });
  const titles = new Map((await src.content.list()).map((c) => [c.id, c.title]));
  // Relays have no library item: they are named by their stream, as in the daily report.
  const relays = new Map((await src.schedules.list()).flatMap((s) => s.items.filter(isRelay).map((i) => [relayContentId(i.streamUrl), i.streamUrl] as const)));
  const titleOf = (id: string) => titles.get(id) ?? (relays.has(id) ? `Tiếp sóng / relay ${relays.get(id)}` : id);
  return { ...monthlyTally(reports, devices, titleOf, timeZone), truncated: reports.length >= MONTHLY_REPORT_LIMIT };
}

/** The items, speakers and totals of a month's reports (no database: the tests' and the report's). */
export function monthlyTally(reports: StoredReport[], devices: { id: string; name: string; areaId: string }[], titleOf: (contentId: string) => string, timeZone: string): Pick<MonthlyReport, 'items' | 'speakers' | 'totals'> {
  const deviceOf = new Map(devices.map((d) => [d.id, d]));
  const items = new Map<string, MonthlyItem & { due: string }>();
  const speakers = new Map(devices.map((d) => [d.id, { deviceId: d.id, deviceName: d.name, areaId: d.areaId, completed: 0, notPlayed: 0, seconds: 0 }]));
  for (const r of reports) {
    const key = `${r.playId}|${r.contentId}`;
    let item = items.get(key);
    if (!item) {
      const due = new Date(r.scheduledAt);
      item = { due: r.scheduledAt, playId: r.playId, scheduleId: r.scheduleId, contentId: r.contentId, title: titleOf(r.contentId), date: localDate(due, timeZone), time: localTime(due, timeZone), seconds: 0, completed: 0, notPlayed: 0, misses: [] };
      items.set(key, item);
    }
    item.seconds = Math.max(item.seconds, Math.round(r.playedMs / 1000));
    const speaker = speakers.get(r.deviceId);
    if (speaker) speaker.seconds += r.playedMs / 1000;
    if (r.status === 'completed') {
      item.completed++;
      if (speaker) speaker.completed++;
    } else {
      item.notPlayed++;
      if (speaker) speaker.notPlayed++;
      item.misses.push({ deviceId: r.deviceId, deviceName: deviceOf.get(r.deviceId)?.name ?? r.deviceId, status: r.status, reason: r.reason ?? null });
    }
  }
  const list = [...items.values()].sort((a, b) => a.due.localeCompare(b.due) || a.title.localeCompare(b.title, 'vi') || a.playId.localeCompare(b.playId));
  for (const i of list) i.misses.sort((a, b) => a.deviceName.localeCompare(b.deviceName, 'vi') || a.deviceId.localeCompare(b.deviceId));
  return {
    items: list.map(({ due: _due, ...i }) => i),
    speakers: [...speakers.values()].map((s) => ({ ...s, seconds: Math.round(s.seconds) })).sort((a, b) => a.deviceName.localeCompare(b.deviceName, 'vi') || a.deviceId.localeCompare(b.deviceId)),
    totals: {
      items: list.length,
      seconds: list.reduce((n, i) => n + i.seconds, 0),
      completed: list.reduce((n, i) => n + i.completed, 0),
      notPlayed: list.reduce((n, i) => n + i.notPlayed, 0),
    },
  };
}
