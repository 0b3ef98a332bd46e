/**
 * Alerts and their per-device deliveries (tables `alerts`, `alert_deliveries`). A delivery
 * only moves forward (pending/offline → received → started → an end state), so statuses
 * that arrive twice or out of order never undo what a device already said.
 */
import type { Targets } from '../accounts/scope.js';
import type { AlertDeliveryState } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';

export type AlertPriority = 'emergency' | 'priority';
/** `active` until cancelled, expired, or replaced by an update. */
export type AlertState = 'active' | 'cancelled' | 'expired' | 'replaced';
export type DeliveryState = 'pending' | 'offline' | AlertDeliveryState;
export const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'offline', 'received', 'started', 'finished', 'failed', 'cancelled', 'expired', 'interrupted'];

/** What a CAP message said, kept with the alert it made. */
export interface CapOrigin {
  identifier: string;
  sender: string;
  sent: string;
  event: string;
  severity: string;
  urgency: string;
  certainty: string;
}

export interface Alert {
  id: string;
  title: string;
  text: string | null;
  contentId: string;
  priority: AlertPriority;
  targets: Targets;
  repeat: number;
  gapMs: number;
  volume: number | null;
  startAt: string;
  expiresAt: string;
  state: AlertState;
  replaces: string | null;
  replacedBy: string | null;
  cap: CapOrigin | null;
  createdBy: string | null;
  createdAt: string;
  endedAt: string | null;
}

export interface Delivery {
  deviceId: string;
  state: DeliveryState;
  reason: string | null;
  /** Repetitions played to the end. */
  played: number;
  startedAt: string | null;
  updatedAt: string;
}

const RANK: Record<DeliveryState, number> = { pending: 0, offline: 0, received: 1, started: 2, finished: 3, failed: 3, cancelled: 3, expired: 3, interrupted: 3 };
export const isFinal = (s: DeliveryState) => RANK[s] === 3;

/** How many deliveries are in each state (every state present, zero included). */
export function totalsOf(deliveries: Pick<Delivery, 'state'>[]): Record<DeliveryState, number> {
  const totals = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  for (const d of deliveries) totals[d.state]++;
  return totals;
}
const RANK_SQL = `CASE state ${Object.entries(RANK).map(([k, v]) => `WHEN '${k}' THEN ${v}`).join(' ')} END`;

type AlertRow = {
  id: string;
  title: string;
  text: string | null;
  content_id: string;
  priority: AlertPriority;
  targets_json: string;
  repeat: number;
  gap_ms: number;
  volume: number | null;
  start_at: string;
  expires_at: string;
  state: AlertState;
  replaces: string | null;
  replaced_by: string | null;
  cap_json: string | null;
  created_by: string | null;
  created_at: string;
  ended_at: string | null;
};

type DeliveryRow = { device_id: string; state: DeliveryState; reason: string | null; played: number; started_at: string | null; updated_at: string };

const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  title: r.title,
  text: r.text,
  contentId: r.content_id,
  priority: r.priority,
  targets: JSON.parse(r.targets_json) as Targets,
  repeat: r.repeat,
  gapMs: r.gap_ms,
  volume: r.volume,
  startAt: r.start_at,
  expiresAt: r.expires_at,
  state: r.state,
  replaces: r.replaces,
  replacedBy: r.replaced_by,
  cap: r.cap_json ? (JSON.parse(r.cap_json) as CapOrigin) : null,
  createdBy: r.created_by,
  createdAt: r.created_at,
  endedAt: r.ended_at,
});

const toDelivery = (r: DeliveryRow): Delivery => ({ deviceId: r.device_id, state: r.state, reason: r.reason, played: r.played, startedAt: r.started_at, updatedAt: r.updated_at });

export class AlertRepo {
  constructor(private readonly db: Db) {}

  /** Stores the alert and one delivery per target device, in one transaction. */
  insert(alert: Alert, deliveries: { deviceId: string; state: 'pending' | 'offline' }[]): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO alerts (id, title, text, content_id, priority, targets_json, repeat, gap_ms, volume, start_at, expires_at, state, replaces, replaced_by, cap_json, created_by, created_at, ended_at)
           VALUES (@id, @title, @text, @contentId, @priority, @targets, @repeat, @gapMs, @volume, @startAt, @expiresAt, @state, @replaces, @replacedBy, @cap, @createdBy, @createdAt, @endedAt)`,
        )
        .run({ ...alert, targets: JSON.stringify(alert.targets), cap: alert.cap ? JSON.stringify(alert.cap) : null });
      const add = this.db.prepare('INSERT INTO alert_deliveries (alert_id, device_id, state, updated_at) VALUES (?, ?, ?, ?)');
      for (const d of deliveries) add.run(alert.id, d.deviceId, d.state, alert.createdAt);
    })();
  }

  get(id: string): Alert | null {
    const row = this.db.prepare('SELECT * FROM alerts WHERE id = ?').get(id) as AlertRow | undefined;
    return row ? toAlert(row) : null;
  }

  require(id: string): Alert {
    const alert = this.get(id);
    if (!alert) throw brokerError('LOA_ERR_NOT_FOUND', { en: `alert ${id}`, vi: `cảnh báo ${id}` });
    return alert;
  }

  list(limit: number): Alert[] {
    return (this.db.prepare('SELECT * FROM alerts ORDER BY created_at DESC, id LIMIT ?').all(limit) as AlertRow[]).map(toAlert);
  }

  active(): Alert[] {
    return (this.db.prepare("SELECT * FROM alerts WHERE state = 'active' ORDER BY created_at").all() as AlertRow[]).map(toAlert);
  }

  /** Active alerts made from the CAP message `sender`/`identifier`. */
  byCapIdentifier(sender: string, identifier: string): Alert[] {
    return (this.db.prepare("SELECT * FROM alerts WHERE json_extract(cap_json, '$.sender') = ? AND json_extract(cap_json, '$.identifier') = ?").all(sender, identifier) as AlertRow[]).map(toAlert);
  }

  end(id: string, state: Exclude<AlertState, 'active'>, at: string, replacedBy: string | null = null): boolean {
    return this.db.prepare("UPDATE alerts SET state = ?, ended_at = ?, replaced_by = COALESCE(?, replaced_by) WHERE id = ? AND state = 'active'").run(state, at, replacedBy, id).changes > 0;
  }

  deliveries(alertId: string): Delivery[] {
    return (this.db.prepare('SELECT device_id, state, reason, played, started_at, updated_at FROM alert_deliveries WHERE alert_id = ? ORDER BY device_id').all(alertId) as DeliveryRow[]).map(toDelivery);
  }

  /** Totals counted in SQL, for lists of alerts (no per-device rows read). */
  totals(alertId: string): Record<DeliveryState, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM alert_deliveries WHERE alert_id = ? GROUP BY state').all(alertId) as { state: DeliveryState; n: number }[];
    const totals = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
    for (const r of rows) totals[r.state] = r.n;
    return totals;
  }

  /**
   * Moves a delivery forward; a state of lower or equal rank changes nothing, except that
   * pending and offline swap as the device comes and goes, and a higher `played` count is kept.
   * One statement: returns the new delivery, or null when nothing changed.
   */
  advance(alertId: string, deviceId: string, next: DeliveryState, at: string, extra: { reason?: string; played?: number; startedAt?: string } = {}): Delivery | null {
    const row = this.db
      .prepare(
        `UPDATE alert_deliveries SET state = @next, reason = COALESCE(@reason, reason), played = MAX(played, @played), started_at = COALESCE(started_at, @startedAt), updated_at = @at
         WHERE alert_id = @alertId AND device_id = @deviceId AND (
           ${RANK_SQL} < @rank
           OR (${RANK_SQL} = 0 AND @rank = 0 AND state != @next)
           OR (state = @next AND played < @played))
         RETURNING device_id, state, reason, played, started_at, updated_at`,
      )
      .get({ alertId, deviceId, next, at, rank: RANK[next], reason: extra.reason ?? null, played: extra.played ?? 0, startedAt: extra.startedAt ?? null }) as DeliveryRow | undefined;
    return row ? toDelivery(row) : null;
  }

  /** Deliveries of the alerts still active, by state (metrics). */
  activeDeliveryCounts(): Record<string, number> {
    const rows = this.db.prepare("SELECT d.state, COUNT(*) AS n FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.state = 'active' GROUP BY d.state").all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Alerts by their current state (metrics). */
  countsByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM alerts GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Runs `fn` in one transaction (many delivery updates commit once). */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /** Deliveries still waiting to reach a device (pending or offline) end in `state`; returns them as they now are. */
  endWaiting(alertId: string, state: 'cancelled' | 'expired', at: string): Delivery[] {
    const rows = this.db
      .prepare("UPDATE alert_deliveries SET state = ?, updated_at = ? WHERE alert_id = ? AND state IN ('pending', 'offline') RETURNING device_id, state, reason, played, started_at, updated_at")
      .all(state, at, alertId) as DeliveryRow[];
    return rows.map(toDelivery);
  }

  /** Active alerts this device has not yet received (or received but not started). */
  openFor(deviceId: string): Alert[] {
    return (
      this.db
        .prepare(
          `SELECT a.* FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id
           WHERE d.device_id = ? AND a.state = 'active' AND d.state IN ('pending', 'offline', 'received') ORDER BY a.created_at`,
        )
        .all(deviceId) as AlertRow[]
    ).map(toAlert);
  }

  /** Deliveries of an alert in the given states. */
  devicesIn(alertId: string, states: DeliveryState[]): string[] {
    const rows = this.db.prepare(`SELECT device_id FROM alert_deliveries WHERE alert_id = ? AND state IN (${states.map(() => '?').join(',')})`).all(alertId, ...states) as { device_id: string }[];
    return rows.map((r) => r.device_id);
  }

  /** How the alert plays on this device (content, repetitions, audio length), if it was sent to it. */
  playFor(alertId: string, deviceId: string): { contentId: string; repeat: number; durationMs: number } | null {
    const row = this.db
      .prepare('SELECT a.content_id, a.repeat, c.duration_ms FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id JOIN content c ON c.id = a.content_id WHERE a.id = ? AND d.device_id = ?')
      .get(alertId, deviceId) as { content_id: string; repeat: number; duration_ms: number } | undefined;
    return row ? { contentId: row.content_id, repeat: row.repeat, durationMs: row.duration_ms } : null;
  }

  /** Whether an active alert sent to this device plays this content (devices may then download it). */
  deviceMayFetch(deviceId: string, contentId: string): boolean {
    return (
      this.db
        .prepare("SELECT 1 FROM alerts a JOIN alert_deliveries d ON d.alert_id = a.id WHERE d.device_id = ? AND a.content_id = ? AND a.state = 'active' LIMIT 1")
        .get(deviceId, contentId) !== undefined
    );
  }
}
