/**
 * Play reports go to SQLite first and are sent until the server's application-level ack
 * (mqtt.js keeps offline messages only in memory; they would die with the process).
 * To a server that accepts `report-batch` (it says so in each time reply), a backlog goes up to
 * MAX_REPORTS_PER_BATCH reports per message; to any other, one message per report.
 */
import { every, MAX_REPORTS_PER_BATCH, systemClock, type Clock, type ClockTimer, type Logger, type PlayReport, type Repeating } from '@loalang/protocol';
import type { AgentStore } from '../storage/store.js';
import type { MqttSession } from './mqtt-session.js';

/** How long after connecting the outbox waits for the server's first time reply before sending as to any server. */
export const SERVER_FEATURES_WAIT_MS = 2000;

export class Outbox {
  private timer: Repeating | null = null;
  /** What the server of this connection accepts; null until its first time reply (or the wait ends). */
  private serverFeatures: ReadonlySet<string> | null = null;
  private featuresWait: ClockTimer | null = null;
  /**
   * Reports the store could not take (its disk full or failing): sent all the same, kept here
   * until acknowledged, and stored as soon as the disk takes them (they then survive a restart).
   */
  private readonly unstored = new Map<string, { report: PlayReport; at: number }>();

  constructor(
    private readonly store: AgentStore,
    private readonly session: MqttSession,
    private readonly logger: Logger,
    /** The resend rhythm waits on it. */
    private readonly clock: Clock = systemClock,
    private readonly resendMs = 15_000,
  ) {}

  start(): void {
    // A new connection may be to another server (or version): the backlog goes once its features are known.
    this.session.on('connected', () => {
      this.serverFeatures = null;
      this.clearFeaturesWait();
      this.featuresWait = this.clock.setTimeout(() => this.learnFeatures([]), SERVER_FEATURES_WAIT_MS);
    });
    this.session.on('time/reply', (reply) => this.learnFeatures(reply.features ?? []));
    this.session.on('report/ack', (ack) => {
      // One ack may cover several reports (`report-ack-many`, announced in the online status).
      const ids = [ack.reportId, ...(ack.moreReportIds ?? [])];
      for (const id of ids) this.unstored.delete(id);
      const removed = this.store.removeReports(ids);
      if (removed.length) this.logger.debug({ reportIds: removed }, 'reports acknowledged');
    });
    this.timer = every(this.clock, this.resendMs, () => this.flush());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = null;
    this.clearFeaturesWait();
  }

  add(report: PlayReport, now: number): void {
    if (!this.store.addReport(report, now)) this.unstored.set(report.reportId, { report, at: now });
    this.send([report]);
  }

  /** Reports waiting for the disk to take them. */
  unstoredCount(): number {
    return this.unstored.size;
  }

  flush(): void {
    for (const [id, { report, at }] of this.unstored) {
      if (!this.store.addReport(report, at)) break;
      this.unstored.delete(id);
    }
    if (!this.session.connected) return;
    const pending = [...this.store.pendingReports(), ...[...this.unstored.values()].map((u) => u.report)];
    if (pending.length === 0) return;
    const size = this.serverFeatures?.has('report-batch') ? MAX_REPORTS_PER_BATCH : 1;
    this.logger.info({ reports: pending.length, messages: Math.ceil(pending.length / size) }, 'sending the reports the server has not acknowledged yet');
    for (let i = 0; i < pending.length; i += size) this.send(pending.slice(i, i + size));
  }

  /** The first reply on a connection sends the backlog; later ones only keep the features current. */
  private learnFeatures(features: readonly string[]): void {
    const first = this.serverFeatures === null;
    this.serverFeatures = new Set(features);
    if (!first) return;
    this.clearFeaturesWait();
    this.flush();
  }

  private clearFeaturesWait(): void {
    if (this.featuresWait) this.clock.clearTimeout(this.featuresWait);
    this.featuresWait = null;
  }

  private send(reports: PlayReport[]): void {
    const ids = reports.map((r) => r.reportId);
    this.store.markAttempts(ids);
    const sent = reports.length === 1 ? this.session.publish('report', reports[0]!) : this.session.publish('reports', { v: 1, reports });
    sent.catch((err: unknown) => this.logger.debug({ reportIds: ids, err: (err as Error).message }, 'reports not sent yet'));
  }
}
