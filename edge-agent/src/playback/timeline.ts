/**
 * The agent's own programme clock: arms a timer for every upcoming play of the applied
 * desired state, so plays happen on time with or without a link to the server. One play
 * at a time (Thông tư 39): an emergency preempts what plays; plays that wait are taken
 * highest priority first (`priority` before `normal`), then by start time.
 *
 * Alerts and live announcements come from outside the programme (`add`, `addLive`). An alert
 * cuts anything but another alert. A live announcement (issue 18) cuts programme plays of its
 * priority or lower and a live one of lower priority, never an alert: it waits for the alert
 * to end and joins at its live point then.
 */
import { EventEmitter } from 'node:events';
import { newId, overlapsQuietHours, type Clock, type ClockTimer, type DesiredPlay, type DesiredState, type Logger, type PlayReport, type Priority, type QuietHours } from '@loalang/protocol';
import type { ContentCache } from '../storage/content-cache.js';
import type { Player } from './player.js';
import type { LiveFeed } from './live-source.js';

export interface TimelineDeps {
  player: Player;
  cache: ContentCache;
  clock: Clock;
  logger: Logger;
  warmupMs: number;
  volume: () => number;
  isDone: (playId: string) => boolean;
  /** A play whose start passed by more than this when its timer could first fire is skipped as late. */
  lateGraceMs?: number;
  /** A play kept waiting by others longer than this past its start is skipped as late. */
  maxQueueDelayMs?: number;
}

const RANK: Record<Priority, number> = { normal: 0, priority: 1, emergency: 2 };
/** Long waits are re-armed hourly, so a corrected server-time offset moves plays days ahead too. */
const REARM_MS = 3_600_000;
/** Plays due together are gathered this long before one is picked, so the highest goes first. */
const GATHER_MS = 20;

/** Where a play comes from: the programme, an alert, a live announcement. */
type PlayKind = 'programme' | 'alert' | 'live';

/** `report`: a play's outcome (played, skipped, failed), for the outbox and the alert handler. */
export type TimelineEvents = { report: [report: PlayReport] };

export class Timeline extends EventEmitter<TimelineEvents> {
  private timers = new Map<string, ClockTimer>();
  private started = new Set<string>();
  private waiting: DesiredPlay[] = [];
  private running: Promise<void> | null = null;
  private picking: ClockTimer | null = null;
  private stopped = false;
  private quietHours: QuietHours | null = null;
  /** Plays outside the programme (alert repetitions), kept across new desired states until they end. */
  private readonly extras = new Map<string, DesiredPlay>();
  /** Live announcements added and not yet run: their frames, by play id. */
  private readonly live = new Map<string, LiveFeed>();
  /** Where the play running now came from (null: none runs). */
  private runningKind: PlayKind | null = null;

  constructor(private readonly d: TimelineDeps) {
    super();
  }

  private get grace(): number {
    return this.d.lateGraceMs ?? 30_000;
  }

  apply(state: DesiredState): void {
    this.quietHours = state.quietHours ?? null;
    // A waiting play the new programme no longer holds (its schedule was deleted or changed) is dropped.
    const kept = new Set([...state.plays.map((p) => p.playId), ...this.extras.keys()]);
    for (const p of this.waiting.filter((w) => !kept.has(w.playId))) this.started.delete(p.playId);
    this.waiting = this.waiting.filter((p) => kept.has(p.playId));
    for (const t of this.timers.values()) this.d.clock.clearTimeout(t);
    this.timers.clear();
    for (const play of this.extras.values()) if (!this.started.has(play.playId)) this.arm(play, Date.parse(play.startAt) - this.d.warmupMs);
    const now = this.d.clock.now();
    for (const play of state.plays) {
      if (this.started.has(play.playId) || this.d.isDone(play.playId)) continue;
      const start = Date.parse(play.startAt);
      if (start + this.grace < now) {
        this.started.add(play.playId);
        this.emit('report', this.skipped(play, 'late'));
        continue;
      }
      this.arm(play, start - this.d.warmupMs);
    }
  }

  /**
   * Adds plays from outside the programme (an alert's repetitions). They play even if their
   * instant has just passed (a late alert is still an alert) and ignore quiet hours.
   */
  add(plays: DesiredPlay[]): void {
    for (const play of plays) {
      if (this.stopped || this.extras.has(play.playId)) continue;
      this.extras.set(play.playId, play);
      this.arm(play, Date.parse(play.startAt) - this.d.warmupMs);
    }
  }

  /**
   * Adds a live announcement's play, due now: it cuts what it may (see the top) or waits its turn,
   * and plays the feed's frames from its live point on when it runs.
   */
  addLive(play: DesiredPlay, feed: LiveFeed): void {
    if (this.stopped || this.extras.has(play.playId)) return;
    this.live.set(play.playId, feed);
    this.extras.set(play.playId, play);
    this.arm(play, this.d.clock.now());
  }

  /**
   * Removes the added plays of `scheduleId`; if one of them is playing, it stops with `reason`.
   * A live announcement's play that had not started is reported skipped with `reason`.
   */
  remove(scheduleId: string, reason: string): void {
    for (const [id, play] of this.extras) {
      if (play.scheduleId !== scheduleId) continue;
      this.extras.delete(id);
      if (this.live.delete(id)) this.emit('report', this.skipped(play, reason));
      const timer = this.timers.get(id);
      if (timer) this.d.clock.clearTimeout(timer);
      this.timers.delete(id);
    }
    this.waiting = this.waiting.filter((p) => p.scheduleId !== scheduleId);
    if (this.d.player.playing?.scheduleId === scheduleId) this.d.player.stopCurrent(reason);
  }

  /**
   * Whether the speaker is idle long enough for something that takes it off air (an agent
   * update's restart): nothing plays or waits, no alert or live play is pending, and no play of
   * `plays` (the programme) runs within the next `ms`.
   */
  quietFor(ms: number, plays: readonly DesiredPlay[]): boolean {
    if (this.runningKind !== null || this.waiting.length > 0 || this.extras.size > 0 || this.running) return false;
    const now = this.d.clock.now();
    return !plays.some((p) => {
      const start = Date.parse(p.startAt);
      return !this.started.has(p.playId) && !this.d.isDone(p.playId) && start - this.d.warmupMs < now + ms && start + p.durationMs > now;
    });
  }

  private arm(play: DesiredPlay, at: number): void {
    const wait = at - this.d.clock.now();
    const timer = this.d.clock.setTimeout(() => {
      if (wait > REARM_MS) return this.arm(play, at);
      this.timers.delete(play.playId);
      this.fire(play);
    }, Math.min(Math.max(0, wait), REARM_MS));
    this.timers.set(play.playId, timer);
  }

  private skipped(play: DesiredPlay, reason: string): PlayReport {
    return { v: 1, reportId: newId(), playId: play.playId, scheduleId: play.scheduleId, contentId: play.contentId, status: 'skipped', reason, scheduledAt: play.startAt, playedMs: 0 };
  }

  private fire(play: DesiredPlay): void {
    if (this.stopped || this.started.has(play.playId)) return;
    this.started.add(play.playId);
    const current = this.d.player.playing;
    // Thông tư 39: only an emergency (khẩn cấp) cuts what is playing; the cut play is reported
    // `interrupted` and not resumed. Other priorities wait for the current play to end. An
    // emergency alert also cuts a scheduled emergency announcement, never another alert.
    const kind = this.kindOf(play);
    if (current && this.cuts(play, kind, current)) this.d.player.preempt(kind === 'alert' ? `alert:${play.scheduleId}` : kind === 'live' ? `live:${play.scheduleId}` : play.playId);
    this.waiting.push(play);
    this.schedulePick();
  }

  private kindOf(play: DesiredPlay): PlayKind {
    return this.live.has(play.playId) ? 'live' : this.extras.has(play.playId) ? 'alert' : 'programme';
  }

  /** Whether `play` (of `kind`) stops the play running now. */
  private cuts(play: DesiredPlay, kind: PlayKind, current: DesiredPlay): boolean {
    const running = this.runningKind ?? 'programme';
    if (kind === 'live') return running !== 'alert' && (running === 'live' ? RANK[current.priority] < RANK[play.priority] : RANK[current.priority] <= RANK[play.priority]);
    if (play.priority !== 'emergency') return false;
    return RANK[current.priority] < RANK.emergency || (kind === 'alert' && running !== 'alert');
  }

  /** Highest priority first; of one priority, a live announcement before the programme; then by start. */
  private byTurn = (a: DesiredPlay, b: DesiredPlay): number =>
    RANK[b.priority] - RANK[a.priority] || Number(this.live.has(b.playId)) - Number(this.live.has(a.playId)) || a.startAt.localeCompare(b.startAt) || a.playId.localeCompare(b.playId);

  private schedulePick(): void {
    if (this.running || this.picking || this.stopped) return;
    this.picking = this.d.clock.setTimeout(() => {
      this.picking = null;
      const next = this.waiting.sort(this.byTurn).shift();
      if (!next) return;
      this.running = this.runOne(next)
        .catch((err: unknown) => this.d.logger.error({ err, playId: next.playId }, 'play crashed'))
        .finally(() => {
          this.running = null;
          this.schedulePick();
        });
    }, GATHER_MS);
  }

  private async runOne(play: DesiredPlay): Promise<void> {
    const live = this.live.get(play.playId);
    this.live.delete(play.playId);
    const added = this.extras.delete(play.playId);
    if (this.stopped) return;
    const qh = this.quietHours;
    const zone = qh?.timeZone ?? 'Asia/Ho_Chi_Minh';
    if (live) {
      // Quiet hours hold for a live announcement as for a schedule, unless it is an emergency:
      // judged at the moment it would start.
      if (qh && play.priority !== 'emergency' && overlapsQuietHours(this.d.clock.now(), 1, qh, zone)) {
        this.d.logger.warn({ playId: play.playId, quietHours: qh }, 'live announcement falls in quiet hours: not played');
        this.emit('report', this.skipped(play, 'quiet-hours'));
        return;
      }
      return this.runPlay(play, null, 'live', live);
    }
    // A play that waited behind a longer or higher one still plays, late, up to a limit.
    if (Date.parse(play.startAt) + (this.d.maxQueueDelayMs ?? 15 * 60_000) < this.d.clock.now()) {
      this.emit('report', this.skipped(play, 'late'));
      return;
    }
    // The server refuses such schedules already; the agent enforces it too (quiet hours may
    // have changed since, or the server's check may be bypassed), emergencies excepted.
    if (qh && play.priority !== 'emergency' && !added && overlapsQuietHours(Date.parse(play.startAt), play.durationMs, qh, zone)) {
      this.d.logger.warn({ playId: play.playId, quietHours: qh }, 'play falls in quiet hours: skipped');
      this.emit('report', this.skipped(play, 'quiet-hours'));
      return;
    }
    const file = play.streamUrl ? null : this.d.cache.pathFor(play.contentId, play.sha256);
    if (!file && !play.streamUrl) {
      this.d.logger.error({ playId: play.playId, contentId: play.contentId }, 'content missing at play time');
      this.emit('report', { ...this.skipped(play, 'content-missing'), status: 'failed' });
      return;
    }
    await this.runPlay(play, file, added ? 'alert' : 'programme');
  }

  private async runPlay(play: DesiredPlay, file: string | null, kind: PlayKind, live?: LiveFeed): Promise<void> {
    const ampError = await this.d.player.warmUp();
    this.runningKind = kind;
    const report = await this.d.player.run(play, file, this.d.volume(), ampError, live).finally(() => (this.runningKind = null));

    this.d.logger.info({ playId: play.playId, status: report.status, startedAt: report.startedAt, playedMs: report.playedMs }, 'play finished');
    this.emit('report', report);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) this.d.clock.clearTimeout(t);
    this.timers.clear();
    if (this.picking) this.d.clock.clearTimeout(this.picking);
    this.picking = null;
    this.waiting = [];
    this.live.clear();
    await this.d.player.shutdown();
    await this.running;
  }
}
