/**
 * Emergency alerts from the server's side: stores an alert with one delivery per target
 * device, fans it out with one publish per target area (every device below listens on its
 * areas' topics), retries devices that did not say `received` on their own topic, replays
 * still-valid alerts to devices that come back, cancels and expires, and emits every
 * delivery change for the live view.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { ALERT_INLINE_MAX_BYTES, deliveryAfterReport, newId, type AlertMessage, type AlertPlay, type AlertStatus, type Clock, type ClockTimer, type Logger, type MessageKind, type MessageOf, type PlayReport } from '@loalang/protocol';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { ContentRepo } from '../content/content-repo.js';
import { isFinal, totalsOf, type Alert, type AlertRepo, type Delivery, type DeliveryState, type NewDelivery } from './alerts.js';
import { nextTurn } from '../next-turn.js';

export interface AlertPublisher {
  publishToArea(areaId: string, kind: 'alert', payload: object): Promise<void>;
  publishToDevice<K extends MessageKind>(deviceId: string, kind: K, message: MessageOf<K>): Promise<void>;
  isOnline(deviceId: string): boolean;
  listensToArea(deviceId: string, areaId: string): boolean;
}

export interface AlertOptions {
  /** Start instant = issue time + this, so every speaker has the message and its audio ready and starts together. */
  leadMs: number;
  /** A device that has not said `received` this long after a send gets the alert again on its own topic. */
  retryMs: number;
  retries: number;
  /**
   * A resend goes out this many devices at a time, `resendPaceMs` apart, and each group is read
   * again first: receipts that arrive meanwhile (a loaded fleet confirms late) are not resent,
   * and a resend to 20,000 never doubles the load of a fan-out still under way.
   */
  resendBatch: number;
  resendPaceMs: number;
  /** Whether a device that comes back while an alert is still valid plays it then. */
  replayOnReconnect: boolean;
  /** When an alert without `expiresAt` expires. */
  defaultTtlMs: number;
  /**
   * Audio travels inline only while (file size × devices sent to) stays within this: the
   * server's uplink must push it all before anyone can confirm (decision 0012).
   */
  inlineBudgetBytes: number;
  /** What the server can serve to downloading speakers; sets the extra lead of alerts they must download. */
  egressBytesPerSec: number;
}

export const DEFAULT_ALERT_OPTIONS: AlertOptions = {
  leadMs: 1500,
  retryMs: 3000,
  retries: 3,
  resendBatch: 500,
  resendPaceMs: 100,
  replayOnReconnect: true,
  defaultTtlMs: 3600_000,
  inlineBudgetBytes: 8 * 1024 * 1024,
  egressBytesPerSec: 50 * 1024 * 1024,
};

/** Longest extra lead for downloads: past this, speakers that are slower start late rather than everyone waiting. */
const MAX_DOWNLOAD_LEAD_MS = 20_000;

/** What a caller gives to issue an alert; the service sets ids, instants and state. */
export type NewAlert = Pick<Alert, 'title' | 'text' | 'contentId' | 'priority' | 'targets' | 'repeat' | 'gapMs' | 'volume' | 'replaces' | 'cap' | 'createdBy'> & {
  /** Default: issue time + the default lifetime. */
  expiresAt: string | null;
};

export interface DeliveryEvent extends Delivery {
  alertId: string;
}

interface QueuedStatus {
  deviceId: string;
  s: AlertStatus;
  /** Times it found no delivery to move (another node may not have written the rows yet). */
  tries?: number;
}

/**
 * A status whose delivery row is not there yet is tried again this often, this many times: on a
 * cluster, the node that sent the alert writes its rows after the send, and a speaker on another
 * node may answer before they are committed.
 */
const NO_DELIVERY_RETRY_MS = 500;
const NO_DELIVERY_TRIES = 10;

/** `receipt`: a device confirmed an alert this many seconds after it was issued (the fan-out metric). */
type AlertEvents = { delivery: [DeliveryEvent]; alert: [Alert]; receipt: [number] };

export interface AlertDeps {
  repo: AlertRepo;
  devices: DeviceRepo;
  content: ContentRepo;
  publisher: AlertPublisher;
  contentPath: (contentId: string) => string;
  publicHttpUrl: () => string;
  clock: Clock;
  logger: Logger;
}

export class AlertService extends EventEmitter<AlertEvents> {
  private readonly expiry = new Map<string, ClockTimer>();
  private readonly retry = new Map<string, ClockTimer>();
  private statusQueue: QueuedStatus[] = [];
  /** Alerts sent whose delivery rows are being written: their statuses wait for them. */
  private readonly storing = new Map<string, Promise<void>>();
  /** Statuses waiting to be tried again (see retryWithoutDelivery), and delivery rows to write again. */
  private readonly requeue = new Set<ClockTimer>();
  /** The status writes in progress: one batch at a time, in the order they came. */
  private flushing: Promise<void> = Promise.resolve();
  /** Set by stop(): work still under way then arms no new timer. */
  private stopped = false;

  constructor(
    private readonly d: AlertDeps,
    private readonly o: AlertOptions = DEFAULT_ALERT_OPTIONS,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get repo(): AlertRepo {
    return this.d.repo;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.armExpiries();
  }

  /**
   * Ends the active alerts past their expiry and arms the others' (the leader's duty on a
   * cluster: issue 17). An active alert without deliveries (its sender stopped between sending it
   * and writing them) gets them now, so its speakers' statuses and replays have rows to move.
   */
  async armExpiries(): Promise<void> {
    const now = this.d.clock.now();
    for (const a of await this.d.repo.active()) {
      if (Date.parse(a.expiresAt) <= now) await this.close(a, 'expired', null);
      else {
        this.armExpiry(a);
        if (!this.storing.has(a.id) && !(await this.d.repo.hasDeliveries(a.id))) await this.restoreDeliveries(a);
      }
    }
  }

  private async restoreDeliveries(alert: Alert): Promise<void> {
    const devices = await this.d.devices.resolveTargetIds(alert.targets.areaIds, alert.targets.deviceIds);
    await this.d.repo.addDeliveries(alert, devices.map((id) => ({ deviceId: id, state: this.d.publisher.isOnline(id) ? 'pending' : 'offline' })));
    this.d.logger.warn({ alertId: alert.id, devices: devices.length }, 'alert deliveries were missing (stopped after sending it): written now');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [...this.expiry.values(), ...this.retry.values(), ...this.requeue]) this.d.clock.clearTimeout(t);
    this.requeue.clear();
    this.expiry.clear();
    this.retry.clear();
    await this.flushStatuses(); // statuses already received are kept
  }

  /** Stores and sends an alert; an update (`replaces`) ends the alert it replaces first. */
  async create(input: NewAlert): Promise<Alert> {
    const now = this.d.clock.now();
    const content = await this.d.content.require(input.contentId);
    const expiresAt = input.expiresAt ?? iso(now + this.o.defaultTtlMs);
    if (Date.parse(expiresAt) <= now) throw brokerError('LOA_ERR_INVALID', { en: 'expiresAt is in the past', vi: 'thời điểm hết hạn đã qua' });
    const devices = await this.d.devices.resolveTargetIds(input.targets.areaIds, input.targets.deviceIds);
    if (devices.length === 0) throw brokerError('LOA_ERR_INVALID', { en: 'the targets hold no enabled device', vi: 'không có thiết bị nào đang hoạt động trong phạm vi đã chọn' });
    // Inline for small fan-outs; otherwise every speaker downloads it, and all start once the server could have served them all.
    const inline = this.inlineFits(content.sizeBytes, devices.length);
    const downloadMs = inline ? 0 : Math.min(MAX_DOWNLOAD_LEAD_MS, Math.ceil((content.sizeBytes * devices.length * 1000) / this.o.egressBytesPerSec));
    const alert: Alert = {
      id: newId(),
      ...input,
      startAt: iso(now + this.o.leadMs + downloadMs),
      expiresAt,
      state: 'active',
      replacedBy: null,
      createdAt: iso(now),
      endedAt: null,
    };
    if (input.replaces) {
      const old = await this.d.repo.require(input.replaces);
      if (old.state === 'active') await this.close(old, 'replaced', alert.id);
    }
    // The alert is on record before any speaker hears it; the speakers hear it before its
    // 10,000 delivery rows are written (issue 19). A status that comes first waits for them.
    await this.d.repo.insertAlert(alert);
    const message = await this.message(alert, alert.startAt, inline);
    this.publishToAreas(alert, message);
    await nextTurn(); // on SQLite the insert below would run before Aedes writes to the areas' speakers
    const rows = devices.map((id): NewDelivery => ({ deviceId: id, state: this.d.publisher.isOnline(id) ? 'pending' : 'offline' }));
    const stored = this.d.repo.addDeliveries(alert, rows);
    this.storing.set(alert.id, stored.catch(() => undefined));
    try {
      await stored;
    } catch (err) {
      // Sent already: the caller must not issue it again (speakers would play it twice). The rows
      // are written again until the database takes them.
      this.d.logger.error({ err, alertId: alert.id }, 'alert sent, but its deliveries were not stored: writing them again');
      this.storeDeliveriesLater(alert, rows, 0);
    } finally {
      this.storing.delete(alert.id);
    }
    this.d.logger.info({ alertId: alert.id, title: alert.title, devices: devices.length, durationMs: content.durationMs, inline, startAt: alert.startAt }, 'alert issued');
    this.emit('alert', alert);
    await this.publishOutsideAreas(alert, message, devices);
    this.armExpiry(alert);
    this.armRetry(alert.id, 0);
    return alert;
  }

  /** Writes an alert's delivery rows again after 1 s, doubling to 30 s, until they are stored (a database restart). */
  private storeDeliveriesLater(alert: Alert, rows: NewDelivery[], attempt: number): void {
    if (this.stopped) return;
    const timer = this.d.clock.setTimeout(() => {
      this.requeue.delete(timer);
      this.d.repo.addDeliveries(alert, rows).then(
        () => this.d.logger.info({ alertId: alert.id, devices: rows.length, attempt: attempt + 1 }, 'alert deliveries stored after all'),
        (err: unknown) => {
          this.d.logger.error({ err, alertId: alert.id, attempt: attempt + 1 }, 'alert deliveries still not stored');
          this.storeDeliveriesLater(alert, rows, attempt + 1);
        },
      );
    }, Math.min(30_000, 1000 * 2 ** attempt));
    this.requeue.add(timer);
  }

  private inlineFits(sizeBytes: number, devices: number): boolean {
    return sizeBytes <= ALERT_INLINE_MAX_BYTES && sizeBytes * devices <= this.o.inlineBudgetBytes;
  }

  /** The alert message; with `withAudio`, audio small enough travels inline, so agents need no download. */
  private async message(alert: Alert, startAt: string, withAudio: boolean): Promise<AlertPlay> {
    const content = await this.d.content.require(alert.contentId);
    const path = this.d.contentPath(content.id);
    let inline: string | undefined;
    try {
      if (withAudio && statSync(path).size <= ALERT_INLINE_MAX_BYTES) inline = readFileSync(path).toString('base64');
    } catch (err) {
      this.d.logger.error({ err, contentId: content.id }, 'alert audio unreadable; devices will download it');
    }
    return {
      v: 1,
      type: 'alert',
      alertId: alert.id,
      ...(alert.replaces ? { replaces: alert.replaces } : {}),
      title: alert.title.slice(0, 200),
      priority: alert.priority,
      issuedAt: alert.createdAt,
      startAt,
      expiresAt: alert.expiresAt,
      repeat: alert.repeat,
      gapMs: alert.gapMs,
      ...(alert.volume !== null ? { volume: alert.volume } : {}),
      audio: {
        contentId: content.id,
        sha256: content.sha256,
        url: `${this.d.publicHttpUrl()}/api/v1/content/${content.id}/file`,
        durationMs: content.durationMs,
        ...(inline ? { inline } : {}),
      },
    };
  }

  /**
   * One publish per target area (QoS 0). Devices that do not listen there (named one by one,
   * or just connected and not yet subscribed to their areas) get it on their own topic.
   */
  private async fanOut(alert: Alert, message: AlertMessage): Promise<void> {
    this.publishToAreas(alert, message);
    // Aedes writes to the areas' speakers on the next turn of the event loop; on SQLite the query
    // below would answer before it (issue 19: 28 ms of a 10,000-speaker fan-out), so it waits.
    await nextTurn();
    await this.publishOutsideAreas(alert, message);
  }

  private publishToAreas(alert: Alert, message: AlertMessage): void {
    for (const areaId of alert.targets.areaIds) this.d.publisher.publishToArea(areaId, 'alert', message).catch(this.publishFailed(alert));
  }

  /** To the devices (by default, those of the alert's deliveries still open) that do not listen on its areas' topics. */
  private async publishOutsideAreas(alert: Alert, message: AlertMessage, deviceIds?: readonly string[]): Promise<void> {
    const p = this.d.publisher;
    for (const id of deviceIds ?? (await this.d.repo.devicesIn(alert.id, ['pending', 'received', 'started']))) {
      if (p.isOnline(id) && !alert.targets.areaIds.some((a) => p.listensToArea(id, a))) p.publishToDevice(id, 'alert', message).catch(this.publishFailed(alert));
    }
  }

  private publishFailed(alert: Alert): (err: unknown) => void {
    return (err) => this.d.logger.error({ err, alertId: alert.id }, 'alert publish failed');
  }

  /** Area fan-out is QoS 0: devices online but silent get the alert again on their own topic (QoS 1). */
  private armRetry(alertId: string, attempt: number): void {
    if (attempt >= this.o.retries || this.stopped) return;
    const resend = async () => {
      const alert = await this.d.repo.get(alertId);
      if (!alert || alert.state !== 'active') return;
      const online = (ids: string[]) => ids.filter((id) => this.d.publisher.isOnline(id));
      const silent = online(await this.d.repo.devicesIn(alertId, ['pending']));
      if (silent.length === 0) return;
      this.d.logger.info({ alertId, devices: silent.length, attempt: attempt + 1 }, 'alert resent to devices that did not confirm');
      const message = await this.message(alert, alert.startAt, this.inlineFits((await this.d.content.require(alert.contentId)).sizeBytes, silent.length));
      const { resendBatch, resendPaceMs } = this.o;
      for (let from = 0; from < silent.length && !this.stopped; from += resendBatch) {
        if (from > 0) await new Promise<void>((resolve) => this.d.clock.setTimeout(resolve, resendPaceMs));
        const group = silent.slice(from, from + resendBatch);
        // Still pending (not confirmed meanwhile, and the alert not ended: ending settles every delivery).
        const still = from === 0 ? group : online(await this.d.repo.devicesIn(alertId, ['pending'], group));
        for (const id of still) this.d.publisher.publishToDevice(id, 'alert', message).catch(() => undefined);
      }
      this.armRetry(alertId, attempt + 1);
    };
    const timer = this.d.clock.setTimeout(() => {
      this.retry.delete(alertId);
      resend().catch((err: unknown) => this.d.logger.error({ err, alertId }, 'alert resend failed'));
    }, this.o.retryMs * 2 ** attempt);
    this.retry.set(alertId, timer);
  }

  private armExpiry(alert: Alert): void {
    if (this.stopped) return;
    const armed = this.expiry.get(alert.id);
    if (armed) this.d.clock.clearTimeout(armed);
    const expire = async () => {
      const current = await this.d.repo.get(alert.id);
      if (current) await this.close(current, 'expired', null);
    };
    const timer = this.d.clock.setTimeout(() => {
      expire().catch((err: unknown) => this.d.logger.error({ err, alertId: alert.id }, 'alert expiry failed'));
    }, Math.max(0, Date.parse(alert.expiresAt) - this.d.clock.now()));
    this.expiry.set(alert.id, timer);
  }

  /** Stops the alert everywhere: devices that play it stop and confirm `cancelled`. */
  async cancel(id: string): Promise<Alert> {
    const alert = await this.d.repo.require(id);
    if (alert.state !== 'active') throw alreadyEnded(alert);
    // Ended meanwhile (another process, or its expiry): the same answer as if it had been read ended.
    if (!(await this.close(alert, 'cancelled', null))) throw alreadyEnded(await this.d.repo.require(id));
    return this.d.repo.require(id);
  }

  /**
   * Ends an active alert; deliveries still waiting end with it. Cancelled or replaced, the
   * speakers are told to stop (replaced too: speakers the update no longer targets must stop);
   * at the expiry they stop on their own clock. False when the alert had already ended.
   */
  private async close(alert: Alert, state: 'cancelled' | 'replaced' | 'expired', replacedBy: string | null): Promise<boolean> {
    const at = iso(this.d.clock.now());
    this.clearTimers(alert.id);
    // Conditional on the alert still being active: of two processes ending it, one goes on from here (one 'alert' event).
    const ended = await this.d.repo.end(alert.id, state, at, replacedBy, state === 'expired' ? 'expired' : 'cancelled');
    if (!ended) return false;
    for (const d of ended) this.emit('delivery', { alertId: alert.id, ...d });
    if (state !== 'expired') await this.fanOut(alert, { v: 1, type: 'cancel', alertId: alert.id, at });
    this.d.logger.info({ alertId: alert.id, state }, 'alert ended');
    this.emit('alert', await this.d.repo.require(alert.id));
    return true;
  }

  private clearTimers(id: string): void {
    for (const map of [this.expiry, this.retry]) {
      const t = map.get(id);
      if (t) this.d.clock.clearTimeout(t);
      map.delete(id);
    }
  }

  /**
   * A device's own account of the alert. Statuses arriving together (10k speakers answer
   * within a second) are written in one transaction, on the next turn of the event loop.
   */
  onStatus(deviceId: string, s: AlertStatus): void {
    this.enqueue({ deviceId, s });
  }

  private enqueue(q: QueuedStatus): void {
    this.statusQueue.push(q);
    if (this.statusQueue.length === 1) setImmediate(() => void this.flushStatuses());
  }

  /** Writes the statuses queued so far, after the batch being written (if any); never rejects. */
  private flushStatuses(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeStatuses()).catch((err: unknown) => this.d.logger.error({ err }, 'alert statuses not handled'));
    return this.flushing;
  }

  private async writeStatuses(): Promise<void> {
    if (this.statusQueue.length === 0) return;
    const queue = this.statusQueue;
    this.statusQueue = [];
    const now = this.d.clock.now();
    // Statuses of an alert this node has just sent: after its delivery rows.
    const storing = [...new Set(queue.map((q) => q.s.alertId))].flatMap((id) => this.storing.get(id) ?? []);
    if (storing.length) await Promise.allSettled(storing);
    let results: (Delivery | null)[];
    try {
      results = await this.d.repo.advanceAll(
        queue.map(({ deviceId, s }) => ({
          alertId: s.alertId,
          deviceId,
          next: s.state,
          at: s.at,
          extra: {
            ...(s.reason ? { reason: s.reason } : {}),
            ...(s.played !== undefined ? { played: s.played } : {}),
            ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          },
        })),
      );
    } catch (err) {
      this.d.logger.error({ err, statuses: queue.length }, 'alert statuses not stored');
      return;
    }
    await this.retryWithoutDelivery(queue.filter((_, i) => !results[i]));
    const changed: DeliveryEvent[] = [];
    const received: string[] = [];
    queue.forEach(({ s }, i) => {
      const after = results[i];
      if (!after) return;
      changed.push({ alertId: s.alertId, ...after });
      if (s.state === 'received') received.push(s.alertId);
    });
    const issued = new Map<string, number>();
    try {
      for (const alertId of new Set(received)) issued.set(alertId, Date.parse((await this.d.repo.get(alertId))?.createdAt ?? ''));
    } catch (err) {
      this.d.logger.error({ err }, 'alert receipt times not measured');
    }
    for (const e of changed) this.emit('delivery', e);
    for (const alertId of received) if (issued.has(alertId)) this.emit('receipt', (now - issued.get(alertId)!) / 1000);
  }

  /**
   * Statuses that moved nothing: those whose delivery the alert does not hold (yet) are queued
   * again a little later, a few times; the others (already further on, or final) are done.
   */
  private async retryWithoutDelivery(unmoved: QueuedStatus[]): Promise<void> {
    if (unmoved.length === 0) return;
    const byAlert = new Map<string, QueuedStatus[]>();
    for (const q of unmoved) byAlert.set(q.s.alertId, [...(byAlert.get(q.s.alertId) ?? []), q]);
    const again: QueuedStatus[] = [];
    try {
      for (const [alertId, statuses] of byAlert) {
        const missing = new Set(await this.d.repo.withoutDelivery(alertId, statuses.map((q) => q.deviceId)));
        for (const q of statuses) {
          if (!missing.has(q.deviceId)) continue;
          if ((q.tries ?? 0) + 1 < NO_DELIVERY_TRIES) again.push({ ...q, tries: (q.tries ?? 0) + 1 });
          else this.d.logger.warn({ alertId, deviceId: q.deviceId, state: q.s.state }, 'alert status for a delivery the alert does not hold: dropped');
        }
      }
    } catch (err) {
      this.d.logger.error({ err, statuses: unmoved.length }, 'alert statuses without a delivery not checked');
      return;
    }
    if (again.length === 0 || this.stopped) return;
    const timer = this.d.clock.setTimeout(() => {
      this.requeue.delete(timer);
      for (const q of again) this.enqueue(q);
    }, NO_DELIVERY_RETRY_MS);
    this.requeue.add(timer);
  }

  /**
   * A play report of an alert repetition (stored durably through the agent's outbox): it
   * settles the delivery even when the live status messages were lost.
   */
  async onReport(deviceId: string, r: PlayReport): Promise<void> {
    const alert = await this.d.repo.get(r.scheduleId);
    if (!alert) return;
    const at = r.endedAt ?? iso(this.d.clock.now());
    const { state, played } = deliveryAfterReport(r, alert.repeat);
    const after = await this.d.repo.advance(alert.id, deviceId, state, at, {
      ...(played !== undefined ? { played } : {}),
      ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    });
    if (after) this.emit('delivery', { alertId: alert.id, ...after });
  }

  async onPresence(deviceId: string, online: boolean): Promise<void> {
    for (const alert of await this.d.repo.openFor(deviceId)) {
      const after = await this.d.repo.advance(alert.id, deviceId, online ? 'pending' : 'offline', iso(this.d.clock.now()));
      if (after) this.emit('delivery', { alertId: alert.id, ...after });
    }
  }

  /** The device listens again: alerts still valid that it has not played are sent now, to start after the lead. */
  async onListening(deviceId: string): Promise<void> {
    if (!this.o.replayOnReconnect) return;
    const startAt = iso(this.d.clock.now() + this.o.leadMs);
    for (const alert of await this.d.repo.openFor(deviceId)) {
      this.d.logger.info({ alertId: alert.id, deviceId }, 'alert replayed to a device that came back');
      // A device that said `received` holds the audio in its cache already: the message alone
      // (it answers where it is), not the audio again. When a node dies mid-alert, its thousands
      // of speakers come back at once, and the audio inline for each cost the node most of its
      // time writing to sockets. One whose cache lost it downloads it from the URL.
      const inline = alert.deliveryState !== 'received';
      this.d.publisher.publishToDevice(deviceId, 'alert', await this.message(alert, startAt, inline)).catch(() => undefined);
    }
  }

  /**
   * Sends every active alert again to the devices connected here that have not confirmed it
   * (issue 17: Redis was away, so what another node fanned out may not have reached them). A
   * device that has it already only answers where it is.
   */
  async replayUnconfirmed(isHere: (deviceId: string) => boolean): Promise<number> {
    let sent = 0;
    for (const alert of await this.d.repo.active()) {
      const waiting = (await this.d.repo.devicesIn(alert.id, ['pending', 'offline'])).filter(isHere);
      if (waiting.length === 0) continue;
      const message = await this.message(alert, iso(this.d.clock.now() + this.o.leadMs), this.inlineFits((await this.d.content.require(alert.contentId)).sizeBytes, waiting.length));
      for (const id of waiting) this.d.publisher.publishToDevice(id, 'alert', message).catch(() => undefined);
      sent += waiting.length;
    }
    return sent;
  }

  /** The alert with its totals (no per-device list). */
  async summary(id: string): Promise<Alert & { totals: Record<DeliveryState, number> }> {
    return { ...(await this.d.repo.require(id)), totals: await this.d.repo.totals(id) };
  }

  /** The alert with its deliveries and totals, as `GET /alerts/:id` shows it. */
  async view(id: string): Promise<Alert & { deliveries: Delivery[]; totals: Record<DeliveryState, number>; done: boolean }> {
    const alert = await this.d.repo.require(id);
    const deliveries = await this.d.repo.deliveries(id);
    return { ...alert, deliveries, totals: totalsOf(deliveries), done: deliveries.every((x) => isFinal(x.state)) };
  }
}

function alreadyEnded(alert: Alert): Error {
  return brokerError('LOA_ERR_CONFLICT', { en: `the alert is already ${alert.state}`, vi: `cảnh báo đã ở trạng thái ${alert.state}` });
}
