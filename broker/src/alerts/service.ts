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
import { isFinal, totalsOf, type Alert, type AlertRepo, type Delivery, type DeliveryState } from './alerts.js';

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
  private statusQueue: { deviceId: string; s: AlertStatus }[] = [];

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

  start(): void {
    const now = this.d.clock.now();
    for (const a of this.d.repo.active()) {
      if (Date.parse(a.expiresAt) <= now) this.close(a, 'expired', null);
      else this.armExpiry(a);
    }
  }

  stop(): void {
    this.flushStatuses(); // statuses already received are kept
    for (const t of [...this.expiry.values(), ...this.retry.values()]) this.d.clock.clearTimeout(t);
    this.expiry.clear();
    this.retry.clear();
  }

  /** Stores and sends an alert; an update (`replaces`) ends the alert it replaces first. */
  create(input: NewAlert): Alert {
    const now = this.d.clock.now();
    const content = this.d.content.require(input.contentId);
    const expiresAt = input.expiresAt ?? iso(now + this.o.defaultTtlMs);
    if (Date.parse(expiresAt) <= now) throw brokerError('LOA_ERR_INVALID', { en: 'expiresAt is in the past', vi: 'thời điểm hết hạn đã qua' });
    const devices = this.d.devices.resolveTargetIds(input.targets.areaIds, input.targets.deviceIds);
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
      const old = this.d.repo.require(input.replaces);
      if (old.state === 'active') this.close(old, 'replaced', alert.id);
    }
    this.d.repo.insert(
      alert,
      devices.map((id) => ({ deviceId: id, state: this.d.publisher.isOnline(id) ? 'pending' : 'offline' })),
    );
    this.d.logger.info({ alertId: alert.id, title: alert.title, devices: devices.length, durationMs: content.durationMs, inline, startAt: alert.startAt }, 'alert issued');
    this.emit('alert', alert);
    this.fanOut(alert, this.message(alert, alert.startAt, inline));
    this.armExpiry(alert);
    this.armRetry(alert.id, 0);
    return alert;
  }

  private inlineFits(sizeBytes: number, devices: number): boolean {
    return sizeBytes <= ALERT_INLINE_MAX_BYTES && sizeBytes * devices <= this.o.inlineBudgetBytes;
  }

  /** The alert message; with `withAudio`, audio small enough travels inline, so agents need no download. */
  private message(alert: Alert, startAt: string, withAudio: boolean): AlertPlay {
    const content = this.d.content.require(alert.contentId);
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
  private fanOut(alert: Alert, message: AlertMessage): void {
    const fail = (err: unknown) => this.d.logger.error({ err, alertId: alert.id }, 'alert publish failed');
    for (const areaId of alert.targets.areaIds) this.d.publisher.publishToArea(areaId, 'alert', message).catch(fail);
    const p = this.d.publisher;
    for (const id of this.d.repo.devicesIn(alert.id, ['pending', 'received', 'started'])) {
      if (p.isOnline(id) && !alert.targets.areaIds.some((a) => p.listensToArea(id, a))) p.publishToDevice(id, 'alert', message).catch(fail);
    }
  }

  /** Area fan-out is QoS 0: devices online but silent get the alert again on their own topic (QoS 1). */
  private armRetry(alertId: string, attempt: number): void {
    if (attempt >= this.o.retries) return;
    const timer = this.d.clock.setTimeout(() => {
      this.retry.delete(alertId);
      const alert = this.d.repo.get(alertId);
      if (!alert || alert.state !== 'active') return;
      const silent = this.d.repo.devicesIn(alertId, ['pending']).filter((id) => this.d.publisher.isOnline(id));
      if (silent.length === 0) return;
      this.d.logger.info({ alertId, devices: silent.length, attempt: attempt + 1 }, 'alert resent to devices that did not confirm');
      const message = this.message(alert, alert.startAt, this.inlineFits(this.d.content.require(alert.contentId).sizeBytes, silent.length));
      for (const id of silent) this.d.publisher.publishToDevice(id, 'alert', message).catch(() => undefined);
      this.armRetry(alertId, attempt + 1);
    }, this.o.retryMs * 2 ** attempt);
    this.retry.set(alertId, timer);
  }

  private armExpiry(alert: Alert): void {
    const timer = this.d.clock.setTimeout(() => {
      const current = this.d.repo.get(alert.id);
      if (current) this.close(current, 'expired', null);
    }, Math.max(0, Date.parse(alert.expiresAt) - this.d.clock.now()));
    this.expiry.set(alert.id, timer);
  }

  /** Stops the alert everywhere: devices that play it stop and confirm `cancelled`. */
  cancel(id: string): Alert {
    const alert = this.d.repo.require(id);
    if (alert.state !== 'active') throw brokerError('LOA_ERR_CONFLICT', { en: `the alert is already ${alert.state}`, vi: `cảnh báo đã ở trạng thái ${alert.state}` });
    this.close(alert, 'cancelled', null);
    return this.d.repo.require(id);
  }

  /**
   * Ends an active alert; deliveries still waiting end with it. Cancelled or replaced, the
   * speakers are told to stop (replaced too: speakers the update no longer targets must stop);
   * at the expiry they stop on their own clock. False when the alert had already ended.
   */
  private close(alert: Alert, state: 'cancelled' | 'replaced' | 'expired', replacedBy: string | null): boolean {
    const at = iso(this.d.clock.now());
    this.clearTimers(alert.id);
    if (!this.d.repo.end(alert.id, state, at, replacedBy)) return false;
    for (const d of this.d.repo.endWaiting(alert.id, state === 'expired' ? 'expired' : 'cancelled', at)) this.emit('delivery', { alertId: alert.id, ...d });
    if (state !== 'expired') this.fanOut(alert, { v: 1, type: 'cancel', alertId: alert.id, at });
    this.d.logger.info({ alertId: alert.id, state }, 'alert ended');
    this.emit('alert', this.d.repo.require(alert.id));
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
    this.statusQueue.push({ deviceId, s });
    if (this.statusQueue.length === 1) setImmediate(() => this.flushStatuses());
  }

  private flushStatuses(): void {
    if (this.statusQueue.length === 0) return;
    const queue = this.statusQueue;
    this.statusQueue = [];
    const changed: DeliveryEvent[] = [];
    const receipts: number[] = [];
    const issued = new Map<string, number>();
    const now = this.d.clock.now();
    try {
      this.d.repo.batch(() => {
        for (const { deviceId, s } of queue) {
          const after = this.d.repo.advance(s.alertId, deviceId, s.state, s.at, {
            ...(s.reason ? { reason: s.reason } : {}),
            ...(s.played !== undefined ? { played: s.played } : {}),
            ...(s.startedAt ? { startedAt: s.startedAt } : {}),
          });
          if (!after) continue;
          changed.push({ alertId: s.alertId, ...after });
          if (s.state !== 'received') continue;
          if (!issued.has(s.alertId)) issued.set(s.alertId, Date.parse(this.d.repo.get(s.alertId)?.createdAt ?? ''));
          receipts.push((now - issued.get(s.alertId)!) / 1000);
        }
      });
    } catch (err) {
      this.d.logger.error({ err, statuses: queue.length }, 'alert statuses not stored');
      return;
    }
    for (const e of changed) this.emit('delivery', e);
    for (const r of receipts) this.emit('receipt', r);
  }

  /**
   * A play report of an alert repetition (stored durably through the agent's outbox): it
   * settles the delivery even when the live status messages were lost.
   */
  onReport(deviceId: string, r: PlayReport): void {
    const alert = this.d.repo.get(r.scheduleId);
    if (!alert) return;
    const at = r.endedAt ?? iso(this.d.clock.now());
    const { state, played } = deliveryAfterReport(r, alert.repeat);
    const after = this.d.repo.advance(alert.id, deviceId, state, at, {
      ...(played !== undefined ? { played } : {}),
      ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    });
    if (after) this.emit('delivery', { alertId: alert.id, ...after });
  }

  onPresence(deviceId: string, online: boolean): void {
    for (const alert of this.d.repo.openFor(deviceId)) {
      const after = this.d.repo.advance(alert.id, deviceId, online ? 'pending' : 'offline', iso(this.d.clock.now()));
      if (after) this.emit('delivery', { alertId: alert.id, ...after });
    }
  }

  /** The device listens again: alerts still valid that it has not played are sent now, to start after the lead. */
  onListening(deviceId: string): void {
    if (!this.o.replayOnReconnect) return;
    const startAt = iso(this.d.clock.now() + this.o.leadMs);
    for (const alert of this.d.repo.openFor(deviceId)) {
      this.d.logger.info({ alertId: alert.id, deviceId }, 'alert replayed to a device that came back');
      this.d.publisher.publishToDevice(deviceId, 'alert', this.message(alert, startAt, true)).catch(() => undefined);
    }
  }

  /** The alert with its totals (no per-device list). */
  summary(id: string): Alert & { totals: Record<DeliveryState, number> } {
    return { ...this.d.repo.require(id), totals: this.d.repo.totals(id) };
  }

  /** The alert with its deliveries and totals, as `GET /alerts/:id` shows it. */
  view(id: string): Alert & { deliveries: Delivery[]; totals: Record<DeliveryState, number>; done: boolean } {
    const alert = this.d.repo.require(id);
    const deliveries = this.d.repo.deliveries(id);
    return { ...alert, deliveries, totals: totalsOf(deliveries), done: deliveries.every((x) => isFinal(x.state)) };
  }
}
