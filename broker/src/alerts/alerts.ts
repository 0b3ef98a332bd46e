/**
 * Alerts and their per-device deliveries (tables `alerts`, `alert_deliveries`). A delivery
 * only moves forward (pending/offline → received → started → an end state), so statuses
 * that arrive twice or out of order never undo what a device already said.
 */
import type { Targets } from '../accounts/scope.js';
import type { AlertDeliveryState } from '@loalang/protocol';
import { sql, type Selectable } from 'kysely';
import type { Database } from '../store/database.js';
import { dialectOf, inList, jsonText, tuplesTable, type Executor } from '../store/portable.js';
import { codeUnitOrder, retryConflicts } from '../store/conflicts.js';
import type { AlertsTable } from '../store/schema.js';
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
/** For each next state, the states a delivery may move to it from: lower rank, or pending ⇄ offline. */
const BEFORE = Object.fromEntries(
  DELIVERY_STATES.map((next) => [next, DELIVERY_STATES.filter((s) => RANK[s] < RANK[next] || (RANK[next] === 0 && RANK[s] === 0 && s !== next))]),
) as Record<DeliveryState, DeliveryState[]>;
const WAITING: DeliveryState[] = ['pending', 'offline'];
/** Deliveries per multi-row statement (advanceAll: 8 parameters each): far below either database's limit. */
const DELIVERY_CHUNK = 500;
const DELIVERY_COLUMNS = ['device_id', 'state', 'reason', 'played', 'started_at', 'updated_at'] as const;

export interface AdvanceExtra {
  reason?: string;
  played?: number;
  startedAt?: string;
}

export interface DeliveryUpdate {
  alertId: string;
  deviceId: string;
  next: DeliveryState;
  at: string;
  extra?: AdvanceExtra;
}

/** A delivery's rank in SQL (advanceAll), from RANK: constants only. */
const RANK_SQL = sql.raw(`CASE alert_deliveries.state ${Object.entries(RANK).map(([k, v]) => `WHEN '${k}' THEN ${v}`).join(' ')} END`);

type AlertRow = Selectable<AlertsTable>;

type DeliveryRow = { device_id: string; state: string; reason: string | null; played: number; started_at: string | null; updated_at: string };

const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  title: r.title,
  text: r.text,
  contentId: r.content_id,
  priority: r.priority as AlertPriority,
  targets: JSON.parse(r.targets_json) as Targets,
  repeat: r.repeat,
  gapMs: r.gap_ms,
  volume: r.volume,
  startAt: r.start_at,
  expiresAt: r.expires_at,
  state: r.state as AlertState,
  replaces: r.replaces,
  replacedBy: r.replaced_by,
  cap: r.cap_json ? (JSON.parse(r.cap_json) as CapOrigin) : null,
  createdBy: r.created_by,
  createdAt: r.created_at,
  endedAt: r.ended_at,
});

const toRow = (a: Alert): AlertRow => ({
  id: a.id,
  title: a.title,
  text: a.text,
  content_id: a.contentId,
  priority: a.priority,
  targets_json: JSON.stringify(a.targets),
  repeat: a.repeat,
  gap_ms: a.gapMs,
  volume: a.volume,
  start_at: a.startAt,
  expires_at: a.expiresAt,
  state: a.state,
  replaces: a.replaces,
  replaced_by: a.replacedBy,
  cap_json: a.cap ? JSON.stringify(a.cap) : null,
  created_by: a.createdBy,
  created_at: a.createdAt,
  ended_at: a.endedAt,
});

const toDelivery = (r: DeliveryRow): Delivery => ({ deviceId: r.device_id, state: r.state as DeliveryState, reason: r.reason, played: r.played, startedAt: r.started_at, updatedAt: r.updated_at });

export interface NewDelivery {
  deviceId: string;
  state: 'pending' | 'offline';
}

/**
 * The deliveries in one statement whatever their number, the devices and states as one
 * parameter each (a 10,000-speaker alert: one statement to compile and run, not 20 of 500
 * rows); a delivery the alert already holds is left as it is.
 */
async function insertDeliveries(db: Executor, alert: Alert, deliveries: NewDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  const rows = tuplesTable(db, ['device_id', 'state'], deliveries.map((d) => [d.deviceId, d.state]));
  await db
    .insertInto('alert_deliveries')
    .columns(['alert_id', 'device_id', 'state', 'updated_at'])
    // WHERE true: SQLite reads ON CONFLICT after a bare SELECT … FROM as a join's ON.
    .expression(sql`SELECT ${alert.id}, t.device_id, t.state, ${alert.createdAt} FROM (${rows}) t WHERE true`)
    .onConflict((oc) => oc.columns(['alert_id', 'device_id']).doNothing())
    .execute();
}

export class AlertRepo {
  constructor(private readonly db: Database) {}

  /** Stores the alert and one delivery per target device, in one transaction. */
  async insert(alert: Alert, deliveries: NewDelivery[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('alerts').values(toRow(alert)).execute();
      await insertDeliveries(trx, alert, deliveries);
    });
  }

  /** Stores the alert alone: its deliveries follow with `addDeliveries` (the alert is sent in between). */
  async insertAlert(alert: Alert): Promise<void> {
    await this.db.insertInto('alerts').values(toRow(alert)).execute();
  }

  /**
   * Stores one delivery per device, leaving any the alert already has as they are (a status
   * that came first, or a second try after a crash).
   */
  async addDeliveries(alert: Alert, deliveries: NewDelivery[]): Promise<void> {
    await insertDeliveries(this.db, alert, deliveries);
  }

  /** Of these devices, those the alert holds no delivery for. */
  async withoutDelivery(alertId: string, deviceIds: readonly string[]): Promise<string[]> {
    if (deviceIds.length === 0) return [];
    const rows = await this.db.selectFrom('alert_deliveries').select('device_id').where('alert_id', '=', alertId).where(inList(this.db, 'device_id', deviceIds)).execute();
    const held = new Set(rows.map((r) => r.device_id));
    return [...new Set(deviceIds)].filter((id) => !held.has(id));
  }

  /** Whether the alert holds any delivery at all. */
  async hasDeliveries(alertId: string): Promise<boolean> {
    return (await this.db.selectFrom('alert_deliveries').select('device_id').where('alert_id', '=', alertId).limit(1).executeTakeFirst()) !== undefined;
  }

  async get(id: string): Promise<Alert | null> {
    const row = await this.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toAlert(row) : null;
  }

  async require(id: string): Promise<Alert> {
    const alert = await this.get(id);
    if (!alert) throw brokerError('LOA_ERR_NOT_FOUND', { en: `alert ${id}`, vi: `cảnh báo ${id}` });
    return alert;
  }

  async list(limit: number): Promise<Alert[]> {
    const rows = await this.db.selectFrom('alerts').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).execute();
    return rows.map(toAlert);
  }

  async active(): Promise<Alert[]> {
    const rows = await this.db.selectFrom('alerts').selectAll().where('state', '=', 'active').orderBy('created_at').orderBy('id').execute();
    return rows.map(toAlert);
  }

  /** Alerts made from the CAP message `sender`/`identifier` (oldest first). */
  async byCapIdentifier(sender: string, identifier: string): Promise<Alert[]> {
    const rows = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where(jsonText(this.db, 'cap_json', 'sender'), '=', sender)
      .where(jsonText(this.db, 'cap_json', 'identifier'), '=', identifier)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toAlert);
  }

  /**
   * Ends an active alert, and with it the deliveries still waiting to reach a device (pending
   * or offline, which end in `waiting`), in one transaction. Null when the alert had already
   * ended: the update is conditional on `state = 'active'`, so when two processes end the same
   * alert at once exactly one of them gets the deliveries back (and says it ended).
   */
  async end(id: string, state: Exclude<AlertState, 'active'>, at: string, replacedBy: string | null, waiting: 'cancelled' | 'expired'): Promise<Delivery[] | null> {
    // Statuses from speakers move the same rows meanwhile, on this node or another (advanceAll):
    // both take the rows' locks in device order, and a deadlock left anyway is run again.
    return retryConflicts(() =>
      this.db.transaction().execute(async (trx) => {
        const ended = await trx
          .updateTable('alerts')
          .set((eb) => ({ state, ended_at: at, replaced_by: replacedBy === null ? eb.ref('replaced_by') : replacedBy }))
          .where('id', '=', id)
          .where('state', '=', 'active')
          .executeTakeFirst();
        if (ended.numUpdatedRows === 0n) return null;
        if (dialectOf(trx) === 'postgres') {
          await sql`SELECT 1 FROM alert_deliveries WHERE alert_id = ${id} AND state = ANY(${[...WAITING]}::text[]) ORDER BY device_id COLLATE "C" FOR UPDATE`.execute(trx);
        }
        const rows = await trx
          .updateTable('alert_deliveries')
          .set({ state: waiting, updated_at: at })
          .where('alert_id', '=', id)
          .where('state', 'in', WAITING)
          .returning(DELIVERY_COLUMNS)
          .execute();
        return rows.map(toDelivery).sort((a, b) => codeUnitOrder(a.deviceId, b.deviceId));
      }),
    );
  }

  async deliveries(alertId: string): Promise<Delivery[]> {
    const rows = await this.db.selectFrom('alert_deliveries').select(DELIVERY_COLUMNS).where('alert_id', '=', alertId).orderBy('device_id').execute();
    return rows.map(toDelivery);
  }

  /** Totals counted in SQL, for lists of alerts (no per-device rows read). */
  async totals(alertId: string): Promise<Record<DeliveryState, number>> {
    const rows = await this.db
      .selectFrom('alert_deliveries')
      .select(['state', (eb) => eb.fn.countAll().as('n')])
      .where('alert_id', '=', alertId)
      .groupBy('state')
      .execute();
    const totals = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
    for (const r of rows) totals[r.state as DeliveryState] = Number(r.n);
    return totals;
  }

  /**
   * Moves a delivery forward; a state of lower or equal rank changes nothing, except that
   * pending and offline swap as the device comes and goes, and a higher `played` count is kept.
   * One conditional statement (`WHERE state IN (the states that come before)`), never a read
   * then a write: two processes given reports for the same delivery at once cannot move it
   * back. Returns the new delivery, or null when nothing changed.
   */
  async advance(alertId: string, deviceId: string, next: DeliveryState, at: string, extra: AdvanceExtra = {}): Promise<Delivery | null> {
    const played = extra.played ?? 0;
    const row = await this.db
      .updateTable('alert_deliveries')
      .set((eb) => ({
        state: next,
        updated_at: at,
        ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
        ...(played > 0 ? { played: eb.case().when('played', '<', played).then(played).else(eb.ref('played')).end() } : {}),
        ...(extra.startedAt !== undefined ? { started_at: eb.fn.coalesce('started_at', eb.val(extra.startedAt)) } : {}),
      }))
      .where('alert_id', '=', alertId)
      .where('device_id', '=', deviceId)
      .where((eb) => eb.or([eb('state', 'in', BEFORE[next]), ...(played > 0 ? [eb.and([eb('state', '=', next), eb('played', '<', played)])] : [])]))
      .returning(DELIVERY_COLUMNS)
      .executeTakeFirst();
    return row ? toDelivery(row) : null;
  }

  /**
   * Many `advance`s (10k speakers answer within a second), by the same rule, in one transaction;
   * results in the order given. Not one statement per delivery: one UPDATE … FROM (VALUES …)
   * per DELIVERY_CHUNK of them, each a conditional update as in `advance`. A delivery named
   * twice is moved twice, in order: once per round. Rows are taken in key order, as every such
   * batch takes them, and a PostgreSQL deadlock with another process's batch is retried.
   */
  async advanceAll(updates: DeliveryUpdate[]): Promise<(Delivery | null)[]> {
    if (updates.length === 0) return [];
    const keyOf = (u: DeliveryUpdate) => `${u.alertId}\u0000${u.deviceId}`;
    const rounds: { u: DeliveryUpdate; i: number }[][] = [];
    const seen = new Map<string, number>();
    updates.forEach((u, i) => {
      const round = seen.get(keyOf(u)) ?? 0;
      seen.set(keyOf(u), round + 1);
      (rounds[round] ??= []).push({ u, i });
    });
    for (const round of rounds) round.sort((a, b) => codeUnitOrder(keyOf(a.u), keyOf(b.u)));
    return retryConflicts(() =>
      this.db.transaction().execute(async (trx) => {
        const results: (Delivery | null)[] = updates.map(() => null);
        for (const round of rounds) {
          for (let i = 0; i < round.length; i += DELIVERY_CHUNK) {
            const chunk = round.slice(i, i + DELIVERY_CHUNK);
            const values = sql.join(
              chunk.map(({ u }) => {
                const e = u.extra ?? {};
                return sql`(CAST(${u.alertId} AS TEXT), CAST(${u.deviceId} AS TEXT), CAST(${u.next} AS TEXT), CAST(${RANK[u.next]} AS INTEGER), CAST(${u.at} AS TEXT), CAST(${e.reason ?? null} AS TEXT), CAST(${e.played ?? 0} AS INTEGER), CAST(${e.startedAt ?? null} AS TEXT))`;
              }),
            );
            // VALUES columns are column1… in both databases: alert, device, next, its rank, at, reason, played, startedAt.
            const { rows } = await sql<DeliveryRow & { alert_id: string }>`
              UPDATE alert_deliveries SET state = v.column3, updated_at = v.column5, reason = COALESCE(v.column6, reason),
                played = CASE WHEN played < v.column7 THEN v.column7 ELSE played END, started_at = COALESCE(started_at, v.column8)
              FROM (VALUES ${values}) AS v
              WHERE alert_deliveries.alert_id = v.column1 AND alert_deliveries.device_id = v.column2 AND (
                ${RANK_SQL} < v.column4
                OR (${RANK_SQL} = 0 AND v.column4 = 0 AND alert_deliveries.state <> v.column3)
                OR (alert_deliveries.state = v.column3 AND alert_deliveries.played < v.column7))
              RETURNING alert_deliveries.alert_id, alert_deliveries.device_id, alert_deliveries.state, alert_deliveries.reason,
                alert_deliveries.played, alert_deliveries.started_at, alert_deliveries.updated_at`.execute(trx);
            const moved = new Map(rows.map((r) => [`${r.alert_id}\u0000${r.device_id}`, r]));
            for (const { u, i } of chunk) {
              const row = moved.get(keyOf(u));
              if (row) results[i] = toDelivery(row);
            }
          }
        }
        return results;
      }),
    );
  }

  /** Deliveries of the alerts still active, by state (metrics). */
  async activeDeliveryCounts(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('alert_deliveries as d')
      .innerJoin('alerts as a', 'a.id', 'd.alert_id')
      .select(['d.state', (eb) => eb.fn.countAll().as('n')])
      .where('a.state', '=', 'active')
      .groupBy('d.state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Alerts by their current state (metrics). */
  async countsByState(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('alerts')
      .select(['state', (eb) => eb.fn.countAll().as('n')])
      .groupBy('state')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Active alerts this device has not yet received (or received but not started). */
  /** The active alerts this device has not played yet, each with its delivery's state. */
  async openFor(deviceId: string): Promise<(Alert & { deliveryState: DeliveryState })[]> {
    const rows = await this.db
      .selectFrom('alerts as a')
      .innerJoin('alert_deliveries as d', 'd.alert_id', 'a.id')
      .selectAll('a')
      .select('d.state as delivery_state')
      .where('d.device_id', '=', deviceId)
      .where('a.state', '=', 'active')
      .where('d.state', 'in', ['pending', 'offline', 'received'])
      .orderBy('a.created_at')
      .orderBy('a.id')
      .execute();
    return rows.map((r) => ({ ...toAlert(r), deliveryState: r.delivery_state as DeliveryState }));
  }

  /** The alert's devices in these states (of `among` only, when given), by id. */
  async devicesIn(alertId: string, states: DeliveryState[], among?: readonly string[]): Promise<string[]> {
    if (states.length === 0 || among?.length === 0) return [];
    let query = this.db.selectFrom('alert_deliveries').select('device_id').where('alert_id', '=', alertId).where('state', 'in', states);
    if (among) query = query.where(inList(this.db, 'device_id', among));
    const rows = await query.orderBy('device_id').execute();
    return rows.map((r) => r.device_id);
  }

  /** How the alert plays on this device (content, repetitions, audio length), if it was sent to it. */
  async playFor(alertId: string, deviceId: string): Promise<{ contentId: string; repeat: number; durationMs: number } | null> {
    const row = await this.db
      .selectFrom('alerts as a')
      .innerJoin('alert_deliveries as d', 'd.alert_id', 'a.id')
      .innerJoin('content as c', 'c.id', 'a.content_id')
      .select(['a.content_id', 'a.repeat', 'c.duration_ms'])
      .where('a.id', '=', alertId)
      .where('d.device_id', '=', deviceId)
      .executeTakeFirst();
    return row ? { contentId: row.content_id, repeat: row.repeat, durationMs: row.duration_ms } : null;
  }

  /** Whether an active alert sent to this device plays this content (devices may then download it). */
  async deviceMayFetch(deviceId: string, contentId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('alerts as a')
      .innerJoin('alert_deliveries as d', 'd.alert_id', 'a.id')
      .select('a.id')
      .where('d.device_id', '=', deviceId)
      .where('a.content_id', '=', contentId)
      .where('a.state', '=', 'active')
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }
}
