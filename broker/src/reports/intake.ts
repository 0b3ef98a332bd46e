/**
 * Play reports are what a commune shows its superiors, so they must agree with what the server
 * sent (issue 14): a report names a play its device was given (a desired-state play, or a
 * repetition of an alert delivered to it), it cannot claim more audio than that play holds, and
 * the first final report of a play stands. Anything else is refused: kept in refused_reports,
 * counted, and put in the audit log (at most a few entries per device and window, so a device
 * spewing reports cannot flood it); the agent still gets its ack, so its outbox drains.
 */
import { EventEmitter } from 'node:events';
import { alertRepetitionOf, liveSessionOfPlayId, type PlayReport } from '@loalang/protocol';
import type { Executor } from '../store/portable.js';
import type { IssuedPlay, IssuedPlays } from './issued-plays.js';
import type { ReportEntry, ReportRefusal, ReportRepo } from './reports.js';

/** Pacing and decoder padding make a play's audio a little longer than measured at ingest. */
export const PLAYED_TOLERANCE_MS = 2000;

/** How an alert repetition reaches a device: the alert's content, repetitions and audio length. */
export interface AlertPlayLookup {
  /** Synchronous or not: the alert store moves onto the async database on its own (issue 16). */
  playFor(alertId: string, deviceId: string): AlertPlay | null | Promise<AlertPlay | null>;
}

export interface AlertPlay {
  contentId: string;
  repeat: number;
  durationMs: number;
}

/**
 * How a live announcement reaches a device (issue 18): it was announced to an area the device
 * sits in. `durationMs`: the most a speaker could have played of it (its length once ended).
 */
export interface LivePlayLookup {
  playFor(sessionId: string, deviceId: string): Promise<LivePlay | null>;
}

export interface LivePlay {
  durationMs: number;
}

interface Refused {
  refusal: ReportRefusal;
  detail: string;
}

/**
 * `alert`: the report was stored as a repetition of an alert sent to the device (not a play of
 * its programme), so it moves that alert's delivery on the alert board.
 */
export type IntakeOutcome = { outcome: 'stored'; alert: boolean } | { outcome: 'resent' } | { outcome: 'refused'; refusal: ReportRefusal; detail: string; record: boolean };

/** Audit entries per device per window; the rest are counted and named in the next entry. */
const AUDIT_BUDGET = 10;
const AUDIT_WINDOW_MS = 10 * 60_000;

/** `stored`: a report was stored (once, on the node that stored it; issue 21: webhooks). */
export type ReportIntakeEvents = { stored: [deviceId: string, report: PlayReport] };

export class ReportIntake {
  readonly events = new EventEmitter<ReportIntakeEvents>();
  private readonly budgets = new Map<string, { since: number; used: number; suppressed: number }>();

  constructor(
    private readonly d: { reports: ReportRepo; issued: IssuedPlays; alerts: AlertPlayLookup; live?: LivePlayLookup; now: () => number },
  ) {}

  /**
   * Checks the report against what the device was given, then stores it once. Safe with two
   * servers ingesting at once: what decides is the store's unique keys (ReportRepo.insert and
   * refuse), not anything read before writing. A batch of one (see acceptBatch).
   */
  async accept(deviceId: string, report: PlayReport): Promise<IntakeOutcome> {
    const [outcome] = await this.acceptBatch([{ deviceId, report }]);
    return outcome!;
  }

  /**
   * `accept` for many reports at once (issue 16; `ReportBatcher` collects them), each given the
   * outcome it would have had alone, in the order of `entries`:
   *  1. one query finds the issued plays of all (an alert repetition not found there is looked
   *     up per alert and device, once each: those are rare);
   *  2. the reports that pass the checks are inserted with one multi-row statement; for those not
   *     inserted, one query tells 'resent' from 'taken' (ReportRepo.insertMany);
   *  3. the refused ones, and the taken ones as 'already-reported', are kept with one more
   *     statement (ReportRepo.refuseMany).
   * Steps 2 and 3 are one transaction (for a batch of more than one): if it fails, every report
   * of the batch fails with it (no ack: the agents send them again). The lookups of step 1 run
   * before it, outside: what was given only grows while a report could still name it, and a
   * read-then-write transaction on SQLite would fail at once, not wait, when another process
   * wrote in between.
   */
  async acceptBatch(entries: readonly ReportEntry[]): Promise<IntakeOutcome[]> {
    if (entries.length === 0) return [];
    const all = entries.map((_, i) => i);
    // A skipped play that played is refused before anything is looked up, as it always was.
    const inconsistent = (r: PlayReport) => r.status === 'skipped' && r.playedMs > 0;
    const consistent = all.filter((i) => !inconsistent(entries[i]!.report));
    const found = await this.d.issued.findMany(consistent.map((i) => ({ deviceId: entries[i]!.deviceId, playId: entries[i]!.report.playId, contentId: entries[i]!.report.contentId })));
    const issued = new Map<number, IssuedPlay | null>(consistent.map((i, k) => [i, found[k] ?? null]));
    const alertKey = (e: ReportEntry) => JSON.stringify([e.report.scheduleId, e.deviceId]);
    const alertLookups = new Map<string, Promise<AlertPlay | null>>();
    for (const i of consistent) {
      const e = entries[i]!;
      if (issued.get(i) || alertRepetitionOf(e.report.playId) < 1 || alertLookups.has(alertKey(e))) continue;
      alertLookups.set(alertKey(e), Promise.resolve(this.d.alerts.playFor(e.report.scheduleId, e.deviceId)));
    }
    const alertPlays = new Map<string, AlertPlay | null>();
    await Promise.all([...alertLookups].map(async ([key, play]) => alertPlays.set(key, await play)));
    // A live announcement's play, looked up once per session and device (a handful per session).
    const liveKey = (e: ReportEntry) => JSON.stringify([liveSessionOfPlayId(e.report.playId), e.deviceId]);
    const liveLookups = new Map<string, Promise<LivePlay | null>>();
    for (const i of consistent) {
      const e = entries[i]!;
      const sessionId = liveSessionOfPlayId(e.report.playId);
      if (issued.get(i) || !sessionId || !this.d.live || liveLookups.has(liveKey(e))) continue;
      liveLookups.set(liveKey(e), this.d.live.playFor(sessionId, e.deviceId));
    }
    const livePlays = new Map<string, LivePlay | null>();
    await Promise.all([...liveLookups].map(async ([key, play]) => livePlays.set(key, await play)));
    const liveGiven = new Map(consistent.map((i) => [i, issued.get(i) ? null : this.liveGiven(entries[i]!.report, livePlays.get(liveKey(entries[i]!)) ?? null)]));

    const problems = all.map((i): Refused | null => {
      const e = entries[i]!;
      if (inconsistent(e.report)) return { refusal: 'inconsistent', detail: `a skipped play cannot have played ${e.report.playedMs} ms` };
      return this.check(e.report, issued.get(i) ?? liveGiven.get(i) ?? this.alertGiven(e.report, alertPlays.get(alertKey(e)) ?? null));
    });
    const toInsert = all.filter((i) => !problems[i]);
    const write = async (executor?: Executor) => {
      const inserted = await this.d.reports.insertMany(
        toInsert.map((i) => entries[i]!),
        executor,
      );
      const refused: { i: number; problem: Refused }[] = all.flatMap((i) => (problems[i] ? [{ i, problem: problems[i] }] : []));
      toInsert.forEach((i, k) => {
        if (inserted[k] === 'taken') refused.push({ i, problem: { refusal: 'already-reported', detail: `play ${entries[i]!.report.playId} already has its final report` } });
      });
      const first = await this.d.reports.refuseMany(
        refused.map(({ i, problem }) => ({ ...entries[i]!, refusal: problem.refusal })),
        executor,
      );
      return { inserted, refused, first };
    };
    // One report: its statements on their own, as before batching (each is idempotent).
    const { inserted, refused, first } = entries.length === 1 ? await write() : await this.d.reports.transaction(write);

    const outcomes: IntakeOutcome[] = new Array(entries.length);
    toInsert.forEach((i, k) => {
      const o = inserted[k]!;
      if (o === 'stored') outcomes[i] = { outcome: 'stored', alert: !issued.get(i) && !liveGiven.get(i) };
      else if (o === 'resent') outcomes[i] = { outcome: 'resent' };
    });
    refused.forEach(({ i, problem }, k) => (outcomes[i] = { outcome: 'refused', refusal: problem.refusal, detail: problem.detail, record: first[k]! }));
    outcomes.forEach((o, i) => o.outcome === 'stored' && this.events.emit('stored', entries[i]!.deviceId, entries[i]!.report));
    return outcomes;
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

  /** Why the report does not agree with the play its device was given (null: never given), or null when it does. */
  private check(r: PlayReport, given: IssuedPlay | null): Refused | null {
    if (!given) return { refusal: 'unknown-play', detail: `play ${r.playId} of content ${r.contentId} was never given to this device` };
    if (given.scheduleId !== r.scheduleId) return { refusal: 'wrong-schedule', detail: `play ${r.playId} belongs to ${given.scheduleId}, not ${r.scheduleId}` };
    if (r.playedMs > given.durationMs + PLAYED_TOLERANCE_MS) return { refusal: 'too-long', detail: `played ${r.playedMs} ms of a ${given.durationMs} ms play` };
    return null;
  }

  /** The play as a live announcement's, announced to the device: the report names the session as its schedule and its recording as its content. */
  private liveGiven(r: PlayReport, live: LivePlay | null): IssuedPlay | null {
    const sessionId = liveSessionOfPlayId(r.playId);
    if (!live || !sessionId || r.scheduleId !== sessionId || r.contentId !== sessionId) return null;
    return { scheduleId: sessionId, durationMs: live.durationMs };
  }

  /** The play as an alert repetition the server sent to the device (not a desired-state play). */
  private alertGiven(r: PlayReport, alert: AlertPlay | null): IssuedPlay | null {
    const repetition = alertRepetitionOf(r.playId);
    if (repetition < 1 || !alert || alert.contentId !== r.contentId || repetition > alert.repeat) return null;
    return { scheduleId: r.scheduleId, durationMs: alert.durationMs };
  }
}
