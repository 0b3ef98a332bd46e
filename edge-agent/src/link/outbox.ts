/**
 * Play reports go to SQLite first and are sent until the server's application-level ack
 * (mqtt.js keeps offline messages only in memory; they would die with the process).
 */
import { every, systemClock, type Clock, type Logger, type PlayReport, type Repeating } from '@loalang/protocol';
import type { AgentStore } from '../storage/store.js';
import type { MqttSession } from './mqtt-session.js';

export class Outbox {
  private timer: Repeating | null = null;

  constructor(
    private readonly store: AgentStore,
    private readonly session: MqttSession,
    private readonly logger: Logger,
    /** The resend rhythm waits on it. */
    private readonly clock: Clock = systemClock,
    private readonly resendMs = 15_000,
  ) {}

  start(): void {
    this.session.on('connected', () => this.flush());
    this.session.on('report/ack', (ack) => {
      // One ack may cover several reports (`report-ack-many`, announced in the online status).
      const removed = this.store.removeReports([ack.reportId, ...(ack.moreReportIds ?? [])]);
      if (removed.length) this.logger.debug({ reportIds: removed }, 'reports acknowledged');
    });
    this.timer = every(this.clock, this.resendMs, () => this.flush());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = null;
  }

  add(report: PlayReport, now: number): void {
    this.store.addReport(report, now);
    this.send(report);
  }

  flush(): void {
    if (!this.session.connected) return;
    for (const r of this.store.pendingReports()) this.send(r);
  }

  private send(report: PlayReport): void {
    this.store.markAttempt(report.reportId);
    this.session.publish('report', report).catch((err: unknown) => this.logger.debug({ reportId: report.reportId, err: (err as Error).message }, 'report not sent yet'));
  }
}
