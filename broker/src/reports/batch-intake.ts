/**
 * Play reports come in crowds: every speaker of a province reports the morning bulletin within
 * seconds, and a fleet back from an outage empties its outboxes at once. One at a time, each
 * report costs its own few queries and its own commit. The batcher collects the reports that
 * arrive within a few milliseconds and hands them to `ReportIntake.acceptBatch` together: a few
 * queries and one commit for hundreds of reports (issue 16).
 *
 * Each report still gets its own outcome, and its promise settles only when its batch is
 * committed (or refused for good), so the broker acks each report only once it is stored. When
 * a batch fails (the database is away), every report in it fails: no ack, the agents resend.
 */
import type { Clock, ClockTimer, PlayReport } from '@loalang/protocol';
import type { Dialect } from '../store/database.js';
import type { IntakeOutcome } from './intake.js';
import type { ReportEntry } from './reports.js';

/**
 * How long a report waits for others before its batch goes (ms). At a steady trickle it adds
 * at most this to a report's ack, which an agent never notices (it resends after 15 s); under a
 * crowd the batch fills long before. 3 ms: within this window a thousand speakers reporting
 * together fill batches of hundreds, while one report alone is acked as if unbatched.
 */
export const REPORT_BATCH_WINDOW_MS = 3;

/**
 * Reports per batch at most: a full batch goes at once. 500 rows are one INSERT of 6,500
 * parameters (well under both databases' limits), and a batch's transaction stays a few
 * milliseconds long, so other writers (presence, telemetry, the console) are not kept waiting.
 */
export const REPORT_BATCH_MAX = 500;

/**
 * Batches being stored at once. SQLite has one connection: a second batch would only queue
 * behind the first while it could still be filling, so one. PostgreSQL's pool has 10
 * connections: four batches overlap their round trips and leave the rest to other work.
 */
export const REPORT_BATCHES_IN_FLIGHT: Record<Dialect, number> = { sqlite: 1, postgres: 4 };

export interface ReportBatchOptions {
  /** See REPORT_BATCH_WINDOW_MS. */
  windowMs: number;
  /** See REPORT_BATCH_MAX. */
  maxReports: number;
  /** See REPORT_BATCHES_IN_FLIGHT. */
  inFlight: number;
}

interface Waiting {
  entry: ReportEntry;
  /** When it arrived (clock ms): it goes no later than windowMs after, given a free slot. */
  at: number;
  resolve: (outcome: IntakeOutcome) => void;
  reject: (err: unknown) => void;
}

export class ReportBatcher {
  private queue: Waiting[] = [];
  private timer: ClockTimer | null = null;
  private running = 0;
  private readonly settled = new Set<() => void>();
  private readonly counts = { batches: 0, reports: 0, largest: 0, failed: 0 };

  constructor(
    private readonly handle: (entries: ReportEntry[]) => Promise<IntakeOutcome[]>,
    private readonly clock: Clock,
    private readonly options: ReportBatchOptions,
  ) {
    if (!(options.maxReports >= 1) || !(options.inFlight >= 1) || !(options.windowMs >= 0)) throw new RangeError('report batches need maxReports ≥ 1, inFlight ≥ 1, windowMs ≥ 0');
  }

  /** The report's outcome, once the batch it joined is stored. */
  accept(deviceId: string, report: PlayReport): Promise<IntakeOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry: { deviceId, report }, at: this.clock.now(), resolve, reject });
      this.pump();
    });
  }

  /** Reports waiting, and batches being stored. */
  get pending(): { reports: number; batches: number } {
    return { reports: this.queue.length, batches: this.running };
  }

  /** Batches started so far, the reports in them, the largest, and how many failed. */
  stats(): { batches: number; reports: number; largest: number; failed: number } {
    return { ...this.counts };
  }

  /** Sends what waits now, and resolves once no batch is being stored (an orderly stop). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.running > 0) {
      await new Promise<void>((resolve) => {
        this.settled.add(resolve);
        this.pump(true);
      });
    }
  }

  /**
   * Starts batches while a slot is free and the oldest waiting report's window is over or a
   * batch is full; otherwise arms the timer for that window's end (a finishing batch calls again).
   */
  private pump(now = false): void {
    while (this.queue.length > 0 && this.running < this.options.inFlight) {
      const full = this.queue.length >= this.options.maxReports;
      const waited = this.clock.now() - this.queue[0]!.at;
      if (!full && !now && waited < this.options.windowMs) {
        this.timer ??= this.clock.setTimeout(() => {
          this.timer = null;
          this.pump();
        }, this.options.windowMs - waited);
        return;
      }
      this.run(this.queue.splice(0, this.options.maxReports));
    }
    if (this.queue.length === 0 && this.timer) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private run(batch: Waiting[]): void {
    this.running++;
    this.counts.batches++;
    this.counts.reports += batch.length;
    this.counts.largest = Math.max(this.counts.largest, batch.length);
    let handled: Promise<IntakeOutcome[]>;
    try {
      handled = this.handle(batch.map((w) => w.entry));
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled
      .then(
        (outcomes) => {
          if (outcomes.length !== batch.length) throw new Error(`report batch: ${outcomes.length} outcomes for ${batch.length} reports`);
          batch.forEach((w, i) => w.resolve(outcomes[i]!));
        },
        (err: unknown) => {
          this.counts.failed++;
          batch.forEach((w) => w.reject(err));
        },
      )
      .catch((err: unknown) => batch.forEach((w) => w.reject(err)))
      .finally(() => {
        this.running--;
        for (const done of this.settled) done();
        this.settled.clear();
        this.pump();
      });
  }
}
