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
}

export interface Area {
  id: string;
  name: string;
  parentId: string | null;
}

export interface Device {
  id: string;
  name: string;
  areaId: string;
  online: boolean;
  disabled: boolean;
  latestTelemetry: { playing?: string | null } | null;
}

export interface Alarm {
  id: string;
  deviceId: string;
  deviceName: string;
  kind: string;
  label: string;
  labelVi: string;
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

export interface NewAlert {
  title?: string;
  text: string;
  targets: { areaIds: string[]; deviceIds: string[] };
  repeat?: number;
}

/** The routes the console calls, as `METHOD path` with `:id` placeholders (checked against OpenAPI). */
export const ROUTES = [
  'POST /auth/login',
  'POST /auth/logout',
  'GET /auth/me',
  'GET /areas',
  'GET /devices',
  'GET /alarms',
  'GET /alerts',
  'POST /alerts',
  'GET /alerts/{id}',
  'POST /alerts/{id}/cancel',
  'GET /alerts/{id}/events',
] as const;

const BASE = '/api/v1';

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
      const error = (json as { error?: ApiError } | null)?.error ?? { code: 'HTTP', message: `HTTP ${res.status}`, messageVi: `Lỗi HTTP ${res.status}` };
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
  alerts = () => this.call<Alert[]>('GET', '/alerts?limit=20');
  alert = (id: string) => this.call<AlertView>('GET', `/alerts/${encodeURIComponent(id)}`);
  createAlert = (a: NewAlert) => this.call<Alert>('POST', '/alerts', a);
  cancelAlert = (id: string) => this.call<Alert>('POST', `/alerts/${encodeURIComponent(id)}/cancel`);

  /**
   * The alert's live event stream (Server-Sent Events read through fetch, since EventSource
   * cannot send the bearer token). Returns a function that stops it.
   */
  alertEvents(id: string, on: (event: string, data: unknown) => void): () => void {
    const ctrl = new AbortController();
    void (async () => {
      const res = await fetch(`${BASE}/alerts/${encodeURIComponent(id)}/events`, { headers: { authorization: `Bearer ${this.token ?? ''}` }, signal: ctrl.signal });
      if (!res.body) return;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) on(event, JSON.parse(data));
        }
      }
    })().catch(() => undefined);
    return () => ctrl.abort();
  }
}
