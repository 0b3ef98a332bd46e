/**
 * LoaLang's records as the upstream connector sends them (issue 21, item 3), before the mapping
 * renames their fields: the registry of speaker clusters, the programmes, the broadcast results
 * of a day per item, and alert deliveries. Each names its area by the national administrative
 * code (the area's first CAP geocode), as the HTTTN does. docs/integration.md lists the fields.
 */
import type { Area } from '../areas/areas.js';
import type { Alert } from '../alerts/alerts.js';
import type { DeliveryState } from '../alerts/alerts.js';
import type { Schedule } from '../schedules/schedules.js';
import { isRelay } from '../schedules/items.js';
import { broadcastTally, type MonthlySources } from '../reports/monthly.js';
import { startOfLocalDay } from '../schedules/recurrence.js';

/** An area as records name it. */
export interface AreaRef {
  id: string;
  name: string;
  /** The national administrative code (mã đơn vị hành chính): the area's first geocode; null when it has none. */
  code: string | null;
  codes: string[];
  parentCode: string | null;
}

export interface RegistryRecord {
  id: string;
  name: string;
  area: AreaRef;
  position: { lat: number; lon: number } | null;
  online: boolean;
  lastSeenAt: string | null;
  agentVersion: string | null;
  agentArch: string | null;
  disabled: boolean;
  createdAt: string;
}

export interface ProgrammeRecord {
  id: string;
  title: string;
  area: AreaRef;
  priority: string;
  status: string;
  start: string;
  recurrence: Schedule['recurrence'];
  repeatCount: number;
  items: { kind: 'content' | 'relay'; ref: string; title: string }[];
  targetAreaCodes: string[];
  targetDeviceIds: string[];
  approvedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ResultRecord {
  date: string;
  time: string;
  scheduleId: string;
  playId: string;
  contentId: string;
  title: string;
  area: AreaRef | null;
  seconds: number;
  completed: number;
  notPlayed: number;
  misses: { deviceId: string; status: string; reason: string | null }[];
}

export interface AlertDeliveryRecord {
  id: string;
  title: string;
  priority: string;
  state: string;
  startAt: string;
  expiresAt: string;
  endedAt: string | null;
  capIdentifier: string | null;
  targetAreaCodes: string[];
  speakers: number;
  totals: Record<DeliveryState, number>;
}

/** A device as the registry reads it. */
type DeviceRow = { id: string; name: string; areaId: string; position: { lat: number; lon: number } | null; lastSeenAt: string | null; agentVersion: string | null; agentArch: string | null; disabled: boolean; createdAt: string };

/** What the records are read from: the server's repositories fit it. */
export interface RecordSources {
  areas: MonthlySources['areas'] & { list(): Promise<Area[]> };
  devices: { list(filter: { areaIds?: Set<string> }): Promise<DeviceRow[]> };
  reports: MonthlySources['reports'];
  schedules: { list(): Promise<Schedule[]> };
  content: { list(): Promise<{ id: string; title: string }[]> };
  alerts: { list(limit: number): Promise<Alert[]>; totals(alertId: string): Promise<Record<DeliveryState, number>> };
  isOnline(deviceId: string): boolean;
}

/** The reported areas (and what names them), read once per push. */
export class AreaIndex {
  private constructor(
    private readonly byId: Map<string, Area>,
    readonly ids: Set<string>,
  ) {}

  static async of(src: RecordSources, roots: string[]): Promise<AreaIndex> {
    const all = await src.areas.list();
    const ids = new Set<string>();
    for (const root of roots) for (const id of await src.areas.subtreeIds(root)) ids.add(id);
    return new AreaIndex(new Map(all.map((a) => [a.id, a])), ids);
  }

  ref(id: string): AreaRef {
    const a = this.byId.get(id);
    const parent = a?.parentId ? this.byId.get(a.parentId) : undefined;
    return { id, name: a?.name ?? id, code: a?.geocodes[0] ?? null, codes: a?.geocodes ?? [], parentCode: parent?.geocodes[0] ?? null };
  }

  codesOf(areaIds: string[]): string[] {
    return areaIds.map((id) => this.byId.get(id)?.geocodes[0]).filter((c): c is string => !!c);
  }
}

export async function registryRecords(src: RecordSources, areas: AreaIndex): Promise<RegistryRecord[]> {
  const devices = await src.devices.list({ areaIds: areas.ids });
  return devices
    .map((d) => ({
      id: d.id,
      name: d.name,
      area: areas.ref(d.areaId),
      position: d.position,
      online: src.isOnline(d.id),
      lastSeenAt: d.lastSeenAt,
      agentVersion: d.agentVersion,
      agentArch: d.agentArch,
      disabled: d.disabled,
      createdAt: d.createdAt,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** The approved programmes (schedules) of the reported areas. */
export async function programmeRecords(src: RecordSources, areas: AreaIndex): Promise<ProgrammeRecord[]> {
  const titles = new Map((await src.content.list()).map((c) => [c.id, c.title]));
  return (await src.schedules.list())
    .filter((s) => areas.ids.has(s.areaId) && s.status === 'approved')
    .map((s) => ({
      id: s.id,
      title: s.title,
      area: areas.ref(s.areaId),
      priority: s.priority,
      status: s.status,
      start: s.start,
      recurrence: s.recurrence,
      repeatCount: s.repeat.count,
      items: s.items.map((i) => (isRelay(i) ? { kind: 'relay' as const, ref: i.streamUrl, title: i.streamUrl } : { kind: 'content' as const, ref: i.contentId, title: titles.get(i.contentId) ?? i.contentId })),
      targetAreaCodes: areas.codesOf(s.targets.areaIds),
      targetDeviceIds: s.targets.deviceIds,
      approvedAt: s.approvedAt,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** What each item of a local day did, per root area, each with its schedule's area. */
export async function resultRecords(src: RecordSources, areas: AreaIndex, roots: string[], date: string, timeZone: string): Promise<ResultRecord[]> {
  const from = startOfLocalDay(date, timeZone);
  const to = startOfLocalDay(nextDate(date), timeZone);
  const scheduleArea = new Map((await src.schedules.list()).map((s) => [s.id, s.areaId]));
  const out: ResultRecord[] = [];
  for (const root of roots) {
    const tally = await broadcastTally(src, root, from, to, timeZone);
    for (const i of tally.items) {
      const areaId = scheduleArea.get(i.scheduleId);
      out.push({
        date: i.date,
        time: i.time,
        scheduleId: i.scheduleId,
        playId: i.playId,
        contentId: i.contentId,
        title: i.title,
        area: areaId ? areas.ref(areaId) : null,
        seconds: i.seconds,
        completed: i.completed,
        notPlayed: i.notPlayed,
        misses: i.misses.map((m) => ({ deviceId: m.deviceId, status: m.status, reason: m.reason })),
      });
    }
  }
  return out;
}

/** Alerts created since `since` that reached the reported areas, with their deliveries' counts. */
export async function alertDeliveryRecords(src: RecordSources, areas: AreaIndex, since: number, deviceIds: Set<string>): Promise<AlertDeliveryRecord[]> {
  const alerts = (await src.alerts.list(1000)).filter(
    (a) => Date.parse(a.createdAt) >= since && (a.targets.areaIds.some((id) => areas.ids.has(id)) || a.targets.deviceIds.some((id) => deviceIds.has(id))),
  );
  const out: AlertDeliveryRecord[] = [];
  for (const a of alerts) {
    const totals = await src.alerts.totals(a.id);
    out.push({
      id: a.id,
      title: a.title,
      priority: a.priority,
      state: a.state,
      startAt: a.startAt,
      expiresAt: a.expiresAt,
      endedAt: a.endedAt,
      capIdentifier: a.cap?.identifier ?? null,
      targetAreaCodes: areas.codesOf(a.targets.areaIds),
      speakers: Object.values(totals).reduce((n, v) => n + v, 0),
      totals,
    });
  }
  return out.sort((a, b) => a.startAt.localeCompare(b.startAt) || a.id.localeCompare(b.id));
}

/** The local date after a YYYY-MM-DD. */
export function nextDate(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** The local date before a YYYY-MM-DD. */
export function previousDate(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}
