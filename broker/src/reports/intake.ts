/**
 * Play reports are what a commune shows its superiors, so they must agree with what the server
 * sent (issue 14): a report names a play its device was given (a desired-state play, or a
 * repetition of an alert delivered to it), it cannot claim more audio than that play holds, and
 * the first final report of a play stands. Anything else is refused: kept in refused_reports,
 * counted, and put in the audit log (at most a few entries per device and window, so a device
 * spewing reports cannot flood it); the agent still gets its ack, so its outbox drains.
 */
import { alertRepetitionOf, type PlayReport } from '@loalang/protocol';
import type { IssuedPlays } from './issued-plays.js';
import type { ReportRefusal, ReportRepo } from './reports.js';

/** Pacing and decoder padding make a play's audio a little longer than measured at ingest. */
export const PLAYED_TOLERANCE_MS = 2000;

/** How an alert repetition reaches a device: the alert's content, repetitions and audio length. */
export interface AlertPlayLookup {
  playFor(alertId: string, deviceId: string): Promise<{ contentId: string; repeat: number; durationMs: number } | null>;
}

export type IntakeOutcome = { outcome: 'stored' } | { outcome: 'resent' } | { outcome: 'refused'; refusal: ReportRefusal; detail: string; record: boolean };

/** Audit entries per device per window; the rest are counted and named in the next entry. */
const AUDIT_BUDGET = 10;
const AUDIT_WINDOW_MS = 10 * 60_000;

export class ReportIntake {
  private readonly budgets = new Map<string, { since: number; used: number; suppressed: number }>();

  constructor(
    private readonly d: { reports: ReportRepo; issued: IssuedPlays; alerts: AlertPlayLookup; now: () => number },
  ) {}

  /** Checks the report against what the device was given, then stores it once. */
  async accept(deviceId: string, report: PlayReport): Promise<IntakeOutcome> {
    const problem = await this.check(deviceId, report);
    if (problem) return this.refuse(deviceId, report, problem.refusal, problem.detail);
    const stored = this.d.reports.insert(deviceId, report);
    if (stored === 'taken') return this.refuse(deviceId, report, 'already-reported', `play ${report.playId} already has its final report`);
    return { outcome: stored };
  }

  /**
   * Whether this refusal goes to the audit log, and how many were held back before it: a
   * device gets AUDIT_BUDGET entries per window.
   */
  auditBudget(deviceId: string): { record: boolean; suppressed: number } {
    const now = this.d.now();
    let b = this.budgets.get(deviceId);
    if (!b || now - b.since >= AUDIT_WINDOW_MS) {
      b = { since: now, used: 0, suppressed: b?.suppressed ?? 0 };
      this.budgets.set(deviceId, b);
    }
    if (b.used >= AUDIT_BUDGET) {
      b.suppressed++;
      return { record: false, suppressed: 0 };
    }
    b.used++;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    return { record: true, suppressed };
  }

  private async check(deviceId: string, r: PlayReport): Promise<{ refusal: ReportRefusal; detail: string } | null> {
    if (r.status === 'skipped' && r.playedMs > 0) return { refusal: 'inconsistent', detail: `a skipped play cannot have played ${r.playedMs} ms` };
    const given = await this.given(deviceId, r);
    if (!given) return { refusal: 'unknown-play', detail: `play ${r.playId} of content ${r.contentId} was never given to this device` };
    if (given.scheduleId !== r.scheduleId) return { refusal: 'wrong-schedule', detail: `play ${r.playId} belongs to ${given.scheduleId}, not ${r.scheduleId}` };
    if (r.playedMs > given.durationMs + PLAYED_TOLERANCE_MS) return { refusal: 'too-long', detail: `played ${r.playedMs} ms of a ${given.durationMs} ms play` };
    return null;
  }

  /** The play as the server gave it: a desired-state play, else an alert repetition. */
  private async given(deviceId: string, r: PlayReport): Promise<{ scheduleId: string; durationMs: number } | null> {
    const issued = this.d.issued.find(deviceId, r.playId, r.contentId);
    if (issued) return issued;
    const repetition = alertRepetitionOf(r.playId);
    if (repetition < 1) return null;
    const alert = await this.d.alerts.playFor(r.scheduleId, deviceId);
    if (!alert || alert.contentId !== r.contentId || repetition > alert.repeat) return null;
    return { scheduleId: r.scheduleId, durationMs: alert.durationMs };
  }

  private refuse(deviceId: string, report: PlayReport, refusal: ReportRefusal, detail: string): IntakeOutcome {
    // A refused report sent again is the same refusal: recorded once.
    const first = this.d.reports.refuse(deviceId, report, refusal);
    return { outcome: 'refused', refusal, detail, record: first };
  }
}
