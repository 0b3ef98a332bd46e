/**
 * The typed client of the LoaLang REST API (`/api/v1`). Only what the console uses; every path
 * and method here is checked against the server's OpenAPI description by the web test.
 */
export interface ApiError {
  code: string;
  message: string;
  messageVi: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message);
  }
}

export interface Me {
  id: string;
  username: string;
  role: 'admin' | 'alert-staff' | 'operator' | 'technician' | 'viewer';
  areaId: string;
  /** What the role may do, e.g. `schedules:write`: the console offers only these. */
  permissions: string[];
}

export interface Area {
  id: string;
  name: string;
  parentId: string | null;
  timezone: string | null;
  /** The timezone the area's times are in: its own, else the nearest ancestor's, else Asia/Ho_Chi_Minh. */
  effectiveTimezone: string;
  quietHours: { from: string; to: string } | null;
}

export interface Telemetry {
  at: string;
  playing?: string | null;
  cpuTemperatureC?: number;
  cpuLoad1?: number;
  clockOffsetMs?: number;
  amp?: { power: boolean; temperatureC?: number; faults: string[]; linkOk: boolean };
  network?: { type: string; signalPercent?: number };
}

export interface Device {
  id: string;
  name: string;
  areaId: string;
  position: { lat: number; lon: number } | null;
  online: boolean;
  disabled: boolean;
  lastSeenAt: string | null;
  agentVersion: string | null;
  latestTelemetry: Telemetry | null;
}

export interface DeviceCondition {
  eventId: string;
  kind: string;
  code?: string;
  active: boolean;
  detail?: string;
  at: string;
}

export interface CommandRecord {
  id: string;
  type: string;
  params: Record<string, string | number | boolean>;
  issuedAt: string;
  status: string;
  result: { ok: boolean; error?: { message: string } } | null;
}

export interface Alarm {
  id: string;
  deviceId: string;
  deviceName: string;
  kind: string;
  label: string;
  labelVi: string;
  ackedBy: string | null;
}

export type DeliveryState = 'pending' | 'offline' | 'received' | 'started' | 'finished' | 'failed' | 'cancelled' | 'expired' | 'interrupted';

export interface Alert {
  id: string;
  title: string;
  state: 'active' | 'cancelled' | 'expired' | 'replaced';
  createdAt: string;
  startAt: string;
  expiresAt: string;
  totals?: Record<string, number>;
}

export interface Delivery {
  deviceId: string;
  state: DeliveryState;
  reason: string | null;
  played: number;
  startedAt: string | null;
  updatedAt: string;
}

export interface AlertView extends Alert {
  deliveries: Delivery[];
  totals: Record<string, number>;
}

export interface PlayReport {
  reportId: string;
  deviceId: string;
  playId: string;
  scheduleId: string;
  contentId: string;
  status: 'completed' | 'failed' | 'interrupted' | 'skipped';
  reason?: string;
  scheduledAt: string;
  startedAt?: string;
  endedAt?: string;
  playedMs: number;
}

export interface DailyRow {
  date: string;
  contentId: string;
  contentTitle: string;
  groupId: string;
  groupName: string;
  plays: number;
  seconds: number;
  interrupted: number;
  failed: number;
  skipped: number;
}

/** An upload, a bulletin read out by the speech engine, or speech made for an alert (left out of the library by default). */
export type ContentKind = 'upload' | 'tts' | 'alert';

export interface ContentItem {
  id: string;
  title: string;
  kind: ContentKind;
  durationMs: number;
  areaId: string;
  sizeBytes: number;
  originalName: string | null;
  createdAt: string;
}

export interface StreamSource {
  id: string;
  name: string;
  url: string;
  areaId: string;
}

/** When a schedule repeats, in its area's timezone (1 = Monday … 7 = Sunday). */
export type Recurrence = (
  | { type: 'daily'; time: string }
  | { type: 'weekly'; time: string; days: number[] }
  | { type: 'monthly'; time: string; dayOfMonth: number }
  | { type: 'cron'; cron: string }
) & { validFrom?: string; validTo?: string; skipDates?: string[] };

export type ScheduleItem = { contentId: string } | { streamUrl: string; durationSec: number };

export interface NewSchedule {
  title: string;
  areaId: string;
  items: ScheduleItem[];
  targets: { areaIds: string[]; deviceIds: string[] };
  start: string;
  recurrence: Recurrence | null;
  repeat: { count: number; gapSec: number };
  priority: 'normal' | 'priority';
}

export interface Schedule extends Omit<NewSchedule, 'priority'> {
  id: string;
  priority: 'normal' | 'priority' | 'emergency';
  status: 'pending' | 'approved';
  createdBy: string | null;
}

/** What saving a schedule would do (POST /schedules/check). */
export interface ScheduleCheck {
  devices: number;
  plays: number;
  firstPlayAt: string | null;
  approval: 'on-save' | 'needed';
  problems: ApiError[];
}

export interface TimelinePlay {
  playId: string;
  scheduleId: string;
  scheduleTitle: string;
  scheduleStatus: 'pending' | 'approved';
  startAt: string;
  endAt: string;
  /** Area programmes only: how many of the area's speakers the play reaches. */
  devices?: number;
  priority?: Schedule['priority'];
}

export interface ReportFilter {
  from: string;
  to: string;
  areaId?: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  username: string | null;
  source: string | null;
  action: string;
  target: string | null;
  status: number | null;
}

export interface User {
  id: string;
  username: string;
  role: Me['role'];
  areaId: string;
  disabled: boolean;
}

export interface NewUser {
  username: string;
  password: string;
  role: Me['role'];
  areaId: string;
}

export interface NewAlert {
  title?: string;
  text?: string;
  contentId?: string;
  targets: { areaIds: string[]; deviceIds: string[] };
  repeat?: number;
}


const BASE = '/api/v1';

const httpError = (status: number): ApiError => ({ code: 'HTTP', message: `HTTP ${status}`, messageVi: `Lỗi HTTP ${status}` });

function query(f: ReportFilter): string {
  const p = new URLSearchParams({ from: f.from, to: f.to });
  if (f.areaId) p.set('areaId', f.areaId);
  return p.toString();
}

export class Api {
  constructor(private token: string | null) {}

  get loggedIn(): boolean {
    return this.token !== null;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${BASE}${path}`, {
      method,
      headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const error = (json as { error?: ApiError } | null)?.error ?? httpError(res.status);
      throw new ApiFailure(res.status, error);
    }
    return json as T;
  }

  async login(username: string, password: string): Promise<string> {
    const { token } = await this.call<{ token: string }>('POST', '/auth/login', { username, password });
    this.token = token;
    return token;
  }

  async logout(): Promise<void> {
    await this.call('POST', '/auth/logout').catch(() => undefined);
    this.token = null;
  }

  me = () => this.call<Me>('GET', '/auth/me');
  areas = () => this.call<Area[]>('GET', '/areas');
  devices = () => this.call<Device[]>('GET', '/devices?limit=5000');
  activeAlarms = () => this.call<Alarm[]>('GET', '/alarms?active=true');
  ackAlarm = (id: string) => this.call<Alarm>('POST', `/alarms/${encodeURIComponent(id)}/ack`);
  alerts = () => this.call<Alert[]>('GET', '/alerts?limit=20');
  device = (id: string) => this.call<Device & { presenceHistory: { online: boolean; cause: string; at: string }[] }>('GET', `/devices/${encodeURIComponent(id)}`);
  /** Conditions the speaker raised and cleared (amplifier faults, audio output, storage…). */
  deviceEvents = (id: string) => this.call<{ active: DeviceCondition[]; history: DeviceCondition[] }>('GET', `/devices/${encodeURIComponent(id)}/events`);
  telemetry = (id: string) => this.call<{ at: string; telemetry: Telemetry }[]>('GET', `/devices/${encodeURIComponent(id)}/telemetry`);
  commands = (id: string) => this.call<CommandRecord[]>('GET', `/devices/${encodeURIComponent(id)}/commands`);
  command = (id: string, type: string, params: Record<string, number> = {}) => this.call<CommandRecord>('POST', `/devices/${encodeURIComponent(id)}/commands`, { type, ...params });
  audit = (action: string) => this.call<AuditEntry[]>('GET', `/audit?limit=200${action ? `&action=${encodeURIComponent(action)}` : ''}`);
  users = () => this.call<User[]>('GET', '/users');
  createUser = (u: NewUser) => this.call<User>('POST', '/users', u);
  updateUser = (id: string, change: { disabled?: boolean; password?: string; role?: Me['role'] }) => this.call<User>('PATCH', `/users/${encodeURIComponent(id)}`, change);
  /** The library: uploads and bulletins, and alert speech too when asked. */
  content = (withAlerts = false) => this.call<ContentItem[]>('GET', `/content${withAlerts ? '?kind=upload&kind=tts&kind=alert' : ''}`);
  deleteContent = (id: string) => this.call<null>('DELETE', `/content/${encodeURIComponent(id)}`);
  streams = () => this.call<{ allowedHosts: string[] | null; sources: StreamSource[] }>('GET', '/streams');
  createStream = (s: { name: string; url: string; areaId: string }) => this.call<StreamSource>('POST', '/streams', s);
  deleteStream = (id: string) => this.call<null>('DELETE', `/streams/${encodeURIComponent(id)}`);
  createArea = (a: { name: string; parentId: string }) => this.call<Area>('POST', '/areas', a);
  updateArea = (id: string, change: { name?: string; quietHours?: Area['quietHours'] }) => this.call<Area>('PATCH', `/areas/${encodeURIComponent(id)}`, change);
  areaTimeline = (areaId: string, from: string, to: string) => this.call<TimelinePlay[]>('GET', `/areas/${encodeURIComponent(areaId)}/timeline?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  updateDevice = (id: string, change: { position?: Device['position']; disabled?: boolean; name?: string }) => this.call<Device>('PATCH', `/devices/${encodeURIComponent(id)}`, change);
  /** A new speaker; the answer carries its agent config with its secret, shown this once. */
  createDevice = (d: { name: string; areaId: string }) => this.call<Device & { agentConfig: Record<string, unknown> }>('POST', '/devices', d);
  rotateSecret = (id: string) => this.call<{ agentConfig: Record<string, unknown> }>('POST', `/devices/${encodeURIComponent(id)}/rotate-secret`);
  settings = () => this.call<{ mapTileUrl: string | null; mapAttribution: string | null }>('GET', '/settings');
  checkSchedule = (s: NewSchedule, scheduleId?: string) => this.call<ScheduleCheck>('POST', `/schedules/check${scheduleId ? `?scheduleId=${encodeURIComponent(scheduleId)}` : ''}`, s);
  updateSchedule = (id: string, s: NewSchedule) => {
    const { areaId: _area, ...change } = s;
    return this.call<Schedule>('PATCH', `/schedules/${encodeURIComponent(id)}`, change);
  };
  deleteSchedule = (id: string) => this.call<null>('DELETE', `/schedules/${encodeURIComponent(id)}`);

  /**
   * Uploads an audio file with progress (XMLHttpRequest: fetch cannot report upload progress).
   * `onProgress` gets 0…1 as bytes leave the browser; the server then normalises the audio.
   */
  upload(file: File, meta: { title: string; areaId: string }, onProgress: (fraction: number) => void): Promise<ContentItem> {
    const form = new FormData();
    form.set('title', meta.title);
    form.set('areaId', meta.areaId);
    form.set('file', file);
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `${BASE}/content`);
      if (this.token) xhr.setRequestHeader('authorization', `Bearer ${this.token}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new TypeError('network'));
      xhr.onload = () => {
        let json: unknown = null;
        try {
          json = JSON.parse(xhr.responseText);
        } catch {
          // not JSON: the status says it
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(json as ContentItem);
        else reject(new ApiFailure(xhr.status, (json as { error?: ApiError } | null)?.error ?? httpError(xhr.status)));
      };
      xhr.send(form);
    });
  }
  speak = (title: string, text: string, areaId: string, kind: 'tts' | 'alert' = 'tts') => this.call<ContentItem>('POST', '/content/tts', { title, text, areaId, kind });
  schedules = () => this.call<Schedule[]>('GET', '/schedules');
  createSchedule = (s: NewSchedule) => this.call<Schedule>('POST', '/schedules', s);
  approve = (id: string) => this.call<Schedule>('POST', `/schedules/${encodeURIComponent(id)}/approve`);
  timeline = (deviceId: string, from: string, to: string) => this.call<TimelinePlay[]>('GET', `/devices/${encodeURIComponent(deviceId)}/timeline?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);

  /** A content item's audio as an object URL for the preview player (fetched with the token). */
  async audioUrl(contentId: string): Promise<string> {
    return URL.createObjectURL(await this.blob(`/content/${encodeURIComponent(contentId)}/file`));
  }

  /** A file the API serves (not JSON), fetched with the token. */
  private async blob(path: string): Promise<Blob> {
    const res = await fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${this.token ?? ''}` } });
    if (!res.ok) throw new ApiFailure(res.status, httpError(res.status));
    return res.blob();
  }
  reports = (f: ReportFilter) => this.call<PlayReport[]>('GET', `/reports?${query(f)}`);
  daily = (f: ReportFilter) => this.call<{ timeZone: string; rows: DailyRow[] }>('GET', `/reports/daily?groupBy=area&${query(f)}`).then((d) => d.rows);

  /** The reports as CSV, fetched with the token (a plain link could not carry it). */
  reportsCsv = (f: ReportFilter) => this.blob(`/reports?format=csv&${query(f)}`);

  alert = (id: string) => this.call<AlertView>('GET', `/alerts/${encodeURIComponent(id)}`);
  createAlert = (a: NewAlert) => this.call<Alert>('POST', '/alerts', a);
  cancelAlert = (id: string) => this.call<Alert>('POST', `/alerts/${encodeURIComponent(id)}/cancel`);

  /** The alert's live delivery board stream. Returns a function that stops it. */
  alertEvents = (id: string, on: (event: string, data: unknown) => void): (() => void) => this.stream(`/alerts/${encodeURIComponent(id)}/events`, on);

  /** The live stream of the caller's areas (devices, alarms, commands, alerts). */
  events = (on: (event: string, data: unknown) => void, onConnected: (connected: boolean) => void, onDenied: () => void): (() => void) => this.stream('/events', on, onConnected, onDenied);

  /**
   * A Server-Sent Events stream read through fetch (EventSource cannot send the bearer token),
   * reconnected after 1, 2, 4… (at most 30) seconds when it drops, given up on a 401. Returns a
   * function that stops it.
   */
  private stream(path: string, on: (event: string, data: unknown) => void, onConnected: (connected: boolean) => void = () => undefined, onDenied: () => void = () => undefined): () => void {
    const ctrl = new AbortController();
    let delay = 1000;
    const once = async () => {
      const res = await fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${this.token ?? ''}` }, signal: ctrl.signal });
      if (!res.ok || !res.body) throw new ApiFailure(res.status, httpError(res.status));
      onConnected(true);
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        // Look for the end of an event only in what just came: a 5 MB batch arrives in many chunks.
        const from = Math.max(0, buf.length - 1);
        buf += value;
        for (let cut = buf.indexOf('\n\n', from); cut >= 0; cut = buf.indexOf('\n\n')) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) on(event, JSON.parse(data));
        }
      }
    };
    void (async () => {
      while (!ctrl.signal.aborted) {
        try {
          await once();
        } catch (err) {
          // The session ended (logout elsewhere, password reset, account disabled): stop.
          if (err instanceof ApiFailure && err.status === 401) {
            onConnected(false);
            return onDenied();
          }
        }
        if (ctrl.signal.aborted) return;
        onConnected(false);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    })();
    return () => ctrl.abort();
  }
}
