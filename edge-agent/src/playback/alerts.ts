/**
 * Emergency alerts on the device: an alert message is confirmed (`received`) at once, its
 * audio taken from the message or downloaded, and its repetitions handed to the timeline,
 * which cuts into whatever plays. Every step goes back to the server as an alert status
 * (`started`, `finished`, `failed`, `cancelled`, `expired`, `interrupted`); statuses that
 * could not be sent are sent again when the link returns.
 */
import { alertPlayId, deliveryAfterReport, type AlertDeliveryState, type AlertMessage, type AlertPlay, type AlertStatus, type Clock, type ClockTimer, type DesiredPlay, type Logger, type PlayReport } from '@loalang/protocol';
import type { ContentCache } from '../storage/content-cache.js';
import type { Timeline } from './timeline.js';

export interface AlertHandlerDeps {
  timeline: Pick<Timeline, 'add' | 'remove'>;
  cache: Pick<ContentCache, 'storeBytes' | 'ensure'>;
  send: (status: AlertStatus) => Promise<void>;
  /** Server time (the measured offset applied): alerts' instants are in it. */
  clock: Clock;
  logger: Logger;
}

interface Tracked {
  msg: AlertPlay | null;
  state: AlertDeliveryState;
  played: number;
  startedAt?: string;
  reason?: string;
  /** The last status did not reach the server. */
  unsent: boolean;
  expiry: ClockTimer | null;
}

const FINAL: ReadonlySet<AlertDeliveryState> = new Set(['finished', 'failed', 'cancelled', 'expired', 'interrupted']);
/** Alerts remembered (so a resend or a late cancel is recognised); older ones are forgotten. */
const KEEP = 200;

/** The alert's repetitions as plays: all speakers compute the same instants from the same message. */
export function alertPlays(m: AlertPlay): DesiredPlay[] {
  const start = Date.parse(m.startAt);
  return Array.from({ length: m.repeat }, (_, k) => ({
    playId: alertPlayId(m.alertId, k + 1),
    scheduleId: m.alertId,
    contentId: m.audio.contentId,
    sha256: m.audio.sha256,
    url: m.audio.url,
    durationMs: m.audio.durationMs,
    startAt: new Date(start + k * (m.audio.durationMs + m.gapMs)).toISOString(),
    priority: m.priority,
    title: m.title,
    ...(m.volume !== undefined ? { volume: m.volume } : {}),
  }));
}

export class AlertHandler {
  private readonly alerts = new Map<string, Tracked>();

  constructor(private readonly d: AlertHandlerDeps) {}

  onMessage(m: AlertMessage): void {
    if (m.type === 'cancel') return this.end(m.alertId, 'cancelled', 'cancelled');
    const known = this.alerts.get(m.alertId);
    if (known) {
      // The server did not hear from us (or replays after a reconnect): say where we are.
      void this.publish(m.alertId, known);
      return;
    }
    const t: Tracked = { msg: m, state: 'received', played: 0, unsent: false, expiry: null };
    this.remember(m.alertId, t);
    if (m.replaces) this.end(m.replaces, 'cancelled', `replaced-by:${m.alertId}`);
    const now = this.d.clock.now();
    if (Date.parse(m.expiresAt) <= now) return this.set(m.alertId, t, 'expired', 'expired');
    void this.publish(m.alertId, t);
    this.d.logger.info({ alertId: m.alertId, title: m.title, startAt: m.startAt, inline: m.audio.inline !== undefined }, 'alert received');
    // The clock's timers hold for any wait: an alert valid until 2099 stays valid (issue 14).
    t.expiry = this.d.clock.setTimeout(() => this.end(m.alertId, 'expired', 'expired'), Date.parse(m.expiresAt) - now);
    void this.prepare(m).then(
      () => {
        if (t.state === 'received') this.d.timeline.add(alertPlays(m));
      },
      (err: unknown) => {
        this.d.logger.error({ alertId: m.alertId, err: (err as Error).message }, 'alert audio unavailable');
        this.set(m.alertId, t, 'failed', `content-unavailable: ${(err as Error).message}`.slice(0, 500));
      },
    );
  }

  private async prepare(m: AlertPlay): Promise<void> {
    if (m.audio.inline) return this.d.cache.storeBytes(m.audio, Buffer.from(m.audio.inline, 'base64'));
    return this.d.cache.ensure(m.audio);
  }

  /** The player started a play: the first repetition of an alert makes it `started`. */
  onStarted(play: DesiredPlay, startedAt: number): void {
    const t = this.alerts.get(play.scheduleId);
    if (!t || t.state !== 'received') return;
    t.startedAt = new Date(startedAt).toISOString();
    this.set(play.scheduleId, t, 'started');
  }

  /** A play report: repetitions count up to `finished`; a failure or a preemption ends the alert here. */
  onReport(r: PlayReport): void {
    const t = this.alerts.get(r.scheduleId);
    if (!t?.msg || FINAL.has(t.state)) return;
    const { state, played } = deliveryAfterReport(r, t.msg.repeat);
    if (played !== undefined) {
      t.played = Math.max(t.played, played);
      if (state === 'finished') this.set(r.scheduleId, t, 'finished');
      else void this.publish(r.scheduleId, t);
      return;
    }
    if (state === 'cancelled' || state === 'expired') return; // end() said so already
    this.end(r.scheduleId, state === 'interrupted' ? 'interrupted' : 'failed', r.reason ?? r.status);
  }

  /** Statuses that did not get through are sent again (on reconnect). */
  resendUnsent(): void {
    for (const [id, t] of this.alerts) if (t.unsent) void this.publish(id, t);
  }

  private end(alertId: string, state: 'cancelled' | 'expired' | 'interrupted' | 'failed', reason: string): void {
    let t = this.alerts.get(alertId);
    if (!t) {
      // A cancel before the alert itself (or after a restart): remember it, so a late copy does not play.
      t = { msg: null, state, played: 0, unsent: false, expiry: null, reason };
      this.remember(alertId, t);
      return;
    }
    if (FINAL.has(t.state)) return;
    this.d.timeline.remove(alertId, reason === 'expired' ? 'expired' : 'cancelled');
    this.set(alertId, t, state, reason);
  }

  private set(alertId: string, t: Tracked, state: AlertDeliveryState, reason?: string): void {
    t.state = state;
    if (reason) t.reason = reason;
    if (FINAL.has(state) && t.expiry) {
      this.d.clock.clearTimeout(t.expiry);
      t.expiry = null;
    }
    this.d.logger.info({ alertId, state, reason }, 'alert status');
    void this.publish(alertId, t);
  }

  private async publish(alertId: string, t: Tracked): Promise<void> {
    const status: AlertStatus = {
      v: 1,
      alertId,
      state: t.state,
      at: new Date(this.d.clock.now()).toISOString(),
      played: t.played,
      ...(t.startedAt ? { startedAt: t.startedAt } : {}),
      ...(t.reason ? { reason: t.reason } : {}),
    };
    try {
      await this.d.send(status);
      t.unsent = false;
    } catch {
      t.unsent = true;
    }
  }

  private remember(alertId: string, t: Tracked): void {
    this.alerts.set(alertId, t);
    if (this.alerts.size <= KEEP) return;
    for (const [id, old] of this.alerts) {
      if (this.alerts.size <= KEEP) break;
      if (FINAL.has(old.state)) this.alerts.delete(id);
    }
  }

  stop(): void {
    for (const t of this.alerts.values()) if (t.expiry) this.d.clock.clearTimeout(t.expiry);
  }
}
