/**
 * The typed client of the LoaLang REST API (`/api/v1`). Only what the console uses; every path
 * and method here is checked against the server's OpenAPI description by the web test.
 *
 * The types of the answers are the server's own response schemas (`console/src/responses/`,
 * `@loalang/api` in tsconfig.json), imported as types only: Vite drops them, so nothing of the
 * server reaches the bundle (a value import would not even resolve at build time).
 */
import type {
  Alarm,
  AlertSummary,
  AlertView,
  ApiError,
  Area as StoredArea,
  AreaTimelinePlay,
  AreaWithTimezone,
  AuditEntry,
  Bulletin,
  CommandRecord,
  CommandSent,
  ContentItem,
  DailyReport,
  Device,
  DeviceConditions,
  DeviceCredentials,
  DeviceDetail,
  DeviceListItem,
  DeviceUpdate,
  LiveDetail,
  LivePrepared,
  LiveSession,
  Login,
  Me,
  PlayReport,
  Release,
  Releases,
  Rollout,
  Rollouts,
  RolloutView,
  Schedule,
  ScheduleCheck,
  ServiceAccount,
  ServiceAccountKey,
  OutboxMessageView,
  UpstreamPushView,
  UpstreamStatusView,
  Settings,
  Webhook,
  WebhookDelivery,
  WebhookSecret,
  StreamSource,
  StreamSources,
  TelemetrySample,
  TimelinePlay as DeviceTimelinePlay,
  User,
} from '@loalang/api';

export type {
  Alarm,
  OutboxMessageView,
  UpstreamStatusView,
  Bulletin,
  ServiceAccount,
  ServiceAccountKey,
  Webhook,
  WebhookDelivery,
  WebhookSecret,
  LiveDetail,
  LiveFeedEvent,
  LiveSession,
  LiveSpeaker,
  AlertView,
  ApiError,
  AuditEntry,
  CommandRecord,
  ContentItem,
  ContentKind,
  DailyRow,
  Delivery,
  DeliveryState,
  Device,
  DeviceCondition,
  DeviceUpdate,
  Me,
  PlayReport,
  Recurrence,
  ReleaseListItem,
  Releases,
  Rollout,
  RolloutDevice,
  RolloutView,
  Schedule,
  ScheduleCheck,
  ScheduleItem,
  StreamSource,
  Telemetry,
  User,
} from '@loalang/api';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.message);
  }
}

/** An area as the lists show it, with the timezone its times are read in. */
export type Area = AreaWithTimezone;
/** An alert with its delivery totals, as lists and the live stream show it. */
export type Alert = AlertSummary;
/** A play of a device's or an area's programme (the area's say how many speakers they reach). */
export type TimelinePlay = DeviceTimelinePlay & Partial<Pick<AreaTimelinePlay, 'devices'>>;

/** What the console sends to make a schedule (the API takes more; these are the console's choices). */
export type NewSchedule = Pick<Schedule, 'title' | 'areaId' | 'items' | 'targets' | 'start' | 'recurrence' | 'repeat'> & { priority: 'normal' | 'priority' };
export type NewUser = Pick<User, 'username' | 'role' | 'areaId'> & { password: string };
export interface NewAlert {
  title?: string;
  text?: string;
  contentId?: string;
  targets: Alert['targets'];
  repeat?: number;
}

/** What the console sends to start a rollout (the server fills in what is left out). */
export type NewRollout = Pick<Rollout, 'releaseId' | 'waves' | 'failureThreshold'> & { targets: { areaIds: string[]; deviceIds: string[] } };

export interface ReportFilter {
  from: string;
  to: string;
  areaId?: string;
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
    const { token } = await this.call<Login>('POST', '/auth/login', { username, password });
    this.token = token;
    return token;
  }

  async logout(): Promise<void> {
    await this.call('POST', '/auth/logout').catch(() => undefined);
    this.token = null;
  }

  me = () => this.call<Me>('GET', '/auth/me');
  areas = () => this.call<Area[]>('GET', '/areas');
  devices = () => this.call<DeviceListItem[]>('GET', '/devices?limit=5000');
  activeAlarms = () => this.call<Alarm[]>('GET', '/alarms?active=true');
  ackAlarm = (id: string) => this.call<Alarm>('POST', `/alarms/${encodeURIComponent(id)}/ack`);
  alerts = () => this.call<Alert[]>('GET', '/alerts?limit=20');
  /** Bulletins from upstream systems (HTTTN, issue 21) that reach the caller's areas, newest first. */
  bulletins = () => this.call<Bulletin[]>('GET', '/bulletins?limit=50');
  device = (id: string) => this.call<DeviceDetail>('GET', `/devices/${encodeURIComponent(id)}`);
  /** Conditions the speaker raised and cleared (amplifier faults, audio output, storage…). */
  deviceEvents = (id: string) => this.call<DeviceConditions>('GET', `/devices/${encodeURIComponent(id)}/events`);
  telemetry = (id: string) => this.call<TelemetrySample[]>('GET', `/devices/${encodeURIComponent(id)}/telemetry`);
  commands = (id: string) => this.call<CommandRecord[]>('GET', `/devices/${encodeURIComponent(id)}/commands`);
  command = (id: string, type: string, params: Record<string, number> = {}) => this.call<CommandSent>('POST', `/devices/${encodeURIComponent(id)}/commands`, { type, ...params });
  audit = (action: string) => this.call<AuditEntry[]>('GET', `/audit?limit=200${action ? `&action=${encodeURIComponent(action)}` : ''}`);
  users = () => this.call<User[]>('GET', '/users');
  createUser = (u: NewUser) => this.call<User>('POST', '/users', u);
  updateUser = (id: string, change: { disabled?: boolean; password?: string; role?: User['role'] }) => this.call<User>('PATCH', `/users/${encodeURIComponent(id)}`, change);
  /** Service accounts (issue 21): the key is in the answers of create and rotate only. */
  serviceAccounts = () => this.call<ServiceAccount[]>('GET', '/service-accounts');
  createServiceAccount = (a: { name: string; description?: string; role: User['role']; areaId: string; expiresInDays: number }) => this.call<ServiceAccountKey>('POST', '/service-accounts', a);
  rotateServiceAccount = (id: string) => this.call<ServiceAccountKey>('POST', `/service-accounts/${encodeURIComponent(id)}/rotate`, {});
  revokeServiceAccount = (id: string) => this.call<ServiceAccount>('POST', `/service-accounts/${encodeURIComponent(id)}/revoke`);
  /** Webhooks (issue 21): the secret is in the answers of create and rotate only. */
  webhooks = () => this.call<Webhook[]>('GET', '/webhooks');
  createWebhook = (w: { name: string; url: string; events: Webhook['events']; areaId: string }) => this.call<WebhookSecret>('POST', '/webhooks', w);
  rotateWebhookSecret = (id: string) => this.call<WebhookSecret>('POST', `/webhooks/${encodeURIComponent(id)}/rotate-secret`);
  deleteWebhook = (id: string) => this.call<null>('DELETE', `/webhooks/${encodeURIComponent(id)}`);
  pingWebhook = (id: string) => this.call<WebhookDelivery>('POST', `/webhooks/${encodeURIComponent(id)}/ping`);
  webhookDeliveries = (id: string, beforeId?: string) => this.call<WebhookDelivery[]>('GET', `/webhooks/${encodeURIComponent(id)}/deliveries?limit=20${beforeId ? `&beforeId=${encodeURIComponent(beforeId)}` : ''}`);
  retryWebhookDelivery = (deliveryId: string) => this.call<WebhookDelivery>('POST', `/webhooks/deliveries/${encodeURIComponent(deliveryId)}/retry`);
  upstream = () => this.call<UpstreamStatusView>('GET', '/upstream');
  pushUpstream = () => this.call<UpstreamPushView>('POST', '/upstream/push', {});
  upstreamMessages = (limit = 20) => this.call<OutboxMessageView[]>('GET', `/upstream/messages?limit=${limit}`);
  retryUpstreamMessage = (id: string) => this.call<OutboxMessageView>('POST', `/upstream/messages/${encodeURIComponent(id)}/retry`);
  /** The library: uploads and bulletins, and alert speech too when asked. */
  content = (withAlerts = false) => this.call<ContentItem[]>('GET', `/content${withAlerts ? '?kind=upload&kind=tts&kind=alert' : ''}`);
  deleteContent = (id: string) => this.call<null>('DELETE', `/content/${encodeURIComponent(id)}`);
  streams = () => this.call<StreamSources>('GET', '/streams');
  createStream = (s: { name: string; url: string; areaId: string }) => this.call<StreamSource>('POST', '/streams', s);
  deleteStream = (id: string) => this.call<null>('DELETE', `/streams/${encodeURIComponent(id)}`);
  createArea = (a: { name: string; parentId: string }) => this.call<StoredArea>('POST', '/areas', a);
  updateArea = (id: string, change: { name?: string; quietHours?: Area['quietHours'] }) => this.call<StoredArea>('PATCH', `/areas/${encodeURIComponent(id)}`, change);
  areaTimeline = (areaId: string, from: string, to: string) => this.call<AreaTimelinePlay[]>('GET', `/areas/${encodeURIComponent(areaId)}/timeline?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  updateDevice = (id: string, change: { position?: Device['position']; disabled?: boolean; name?: string }) => this.call<Device>('PATCH', `/devices/${encodeURIComponent(id)}`, change);
  /** A new speaker; the answer carries its agent config with its secret, shown this once. */
  createDevice = (d: { name: string; areaId: string }) => this.call<DeviceCredentials>('POST', '/devices', d);
  rotateSecret = (id: string) => this.call<DeviceCredentials>('POST', `/devices/${encodeURIComponent(id)}/rotate-secret`);
  settings = () => this.call<Settings>('GET', '/settings');
  checkSchedule = (s: NewSchedule, scheduleId?: string) => this.call<ScheduleCheck>('POST', `/schedules/check${scheduleId ? `?scheduleId=${encodeURIComponent(scheduleId)}` : ''}`, s);
  updateSchedule = (id: string, s: NewSchedule) => {
    const { areaId: _area, ...change } = s;
    return this.call<Schedule>('PATCH', `/schedules/${encodeURIComponent(id)}`, change);
  };
  deleteSchedule = (id: string) => this.call<null>('DELETE', `/schedules/${encodeURIComponent(id)}`);

  /**
   * Uploads an audio file with progress; `onProgress` gets 0…1 as bytes leave the browser; the
   * server then normalises the audio.
   */
  upload(file: File, meta: { title: string; areaId: string }, onProgress: (fraction: number) => void): Promise<ContentItem> {
    const form = new FormData();
    form.set('title', meta.title);
    form.set('areaId', meta.areaId);
    form.set('file', file);
    return this.postForm<ContentItem>('/content', form, onProgress);
  }

  /** Uploads an agent release bundle (`loalang release pack`), with progress as `upload`. */
  uploadRelease(file: File, onProgress: (fraction: number) => void): Promise<Release> {
    const form = new FormData();
    form.set('file', file);
    return this.postForm<Release>('/releases', form, onProgress);
  }

  /** A multipart POST with upload progress (XMLHttpRequest: fetch cannot report it). */
  private postForm<T>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `${BASE}${path}`);
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
        if (xhr.status >= 200 && xhr.status < 300) resolve(json as T);
        else reject(new ApiFailure(xhr.status, (json as { error?: ApiError } | null)?.error ?? httpError(xhr.status)));
      };
      xhr.send(form);
    });
  }
  speak = (title: string, text: string, areaId: string, kind: 'tts' | 'alert' = 'tts') => this.call<ContentItem>('POST', '/content/tts', { title, text, areaId, kind });
  schedules = () => this.call<Schedule[]>('GET', '/schedules');
  createSchedule = (s: NewSchedule) => this.call<Schedule>('POST', '/schedules', s);
  approve = (id: string) => this.call<Schedule>('POST', `/schedules/${encodeURIComponent(id)}/approve`);
  releases = () => this.call<Releases>('GET', '/releases');
  rollouts = () => this.call<Rollouts>('GET', '/rollouts').then((r) => r.rollouts);
  rollout = (id: string) => this.call<RolloutView>('GET', `/rollouts/${encodeURIComponent(id)}`);
  createRollout = (r: NewRollout) => this.call<Rollout>('POST', '/rollouts', r);
  /** Pause (no new wave starts), resume, or cancel (boxes that have not installed are told not to). */
  moveRollout = (id: string, action: 'pause' | 'resume' | 'cancel') => this.call<Rollout>('POST', `/rollouts/${encodeURIComponent(id)}/${action}`);
  /** The version a speaker runs and its place in the latest rollout that included it. */
  deviceUpdate = (id: string) => this.call<DeviceUpdate>('GET', `/devices/${encodeURIComponent(id)}/update`);
  timeline = (deviceId: string, from: string, to: string) => this.call<DeviceTimelinePlay[]>('GET', `/devices/${encodeURIComponent(deviceId)}/timeline?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);

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
  daily = (f: ReportFilter) => this.call<DailyReport>('GET', `/reports/daily?groupBy=area&${query(f)}`).then((d) => d.rows);

  /** The reports as CSV, fetched with the token (a plain link could not carry it). */
  reportsCsv = (f: ReportFilter) => this.blob(`/reports?format=csv&${query(f)}`);
  /** An area's monthly broadcast report (month YYYY-MM) as the printable PDF form or CSV; no area: the caller's own. */
  monthlyReport = (month: string, areaId: string, format: 'pdf' | 'csv') => this.blob(`/reports/monthly?format=${format}&month=${encodeURIComponent(month)}${areaId ? `&areaId=${encodeURIComponent(areaId)}` : ''}`);

  alert = (id: string) => this.call<AlertView>('GET', `/alerts/${encodeURIComponent(id)}`);
  /** Prepares a live announcement; its feed socket is opened with the ticket (live-mic.ts). */
  prepareLive = (l: { areaIds: string[]; priority: 'priority' | 'emergency'; title?: string }) => this.call<LivePrepared>('POST', '/live', l);
  liveSessions = () => this.call<LiveSession[]>('GET', '/live?limit=20');
  liveSession = (id: string) => this.call<LiveDetail>('GET', `/live/${encodeURIComponent(id)}`);
  endLive = (id: string) => this.call<{ endedHere: boolean }>('POST', `/live/${encodeURIComponent(id)}/end`);
  createAlert = (a: NewAlert) => this.call<AlertSummary>('POST', '/alerts', a);
  cancelAlert = (id: string) => this.call<AlertView>('POST', `/alerts/${encodeURIComponent(id)}/cancel`);

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
