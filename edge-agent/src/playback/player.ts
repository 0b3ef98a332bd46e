/**
 * Runs one play: amplifier on ahead of time (warm-up), audio at the exact instant, amplifier
 * off after a tail unless another play follows. Amplifier failures never stop the audio;
 * they are carried in the report.
 */
import { EventEmitter } from 'node:events';
import { newId, type Clock, type ClockTimer, type DesiredPlay, type Logger, type PlayReport } from '@loalang/protocol';
import type { AmplifierController, AmpStatus } from '@loalang/firmware-bridge';
import type { AudioSink, PlayHandle, PlaySource, PreparedPlay } from './sink-contract.js';
import type { LiveFeed } from './live-source.js';

export interface PlayerDeps {
  amplifier: AmplifierController;
  sink: AudioSink;
  clock: Clock;
  logger: Logger;
  tailMs: number;
}

/** `started`: the moment a play's audio starts (alerts report `started` from it). */
export type PlayerEvents = { started: [play: DesiredPlay, startedAt: number] };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A cached file is released this long before its instant, its first sample due at the instant
 * on the output's sample clock: a wake-up held up by the event loop (a GC, another callback, a
 * busy CPU) within this margin no longer makes the audio late (decision 0009).
 */
export const PREROLL_MS = 200;

/** Waits on the clock's timer, then in small steps, so audio starts within a millisecond or two. */
export async function waitUntil(clock: Clock, at: number, signal?: AbortSignal): Promise<void> {
  const coarse = at - clock.now() - 15;
  if (coarse > 0 && !signal?.aborted) {
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(done, coarse);
      function done() {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done);
    });
  }
  if (clock.now() >= at || signal?.aborted) return;
  // A timer at the instant does nothing on a real clock (the loop watches the time), but a
  // manual clock stops there, so on fake time too the play starts exactly at its instant.
  const instant = clock.setTimeout(() => undefined, at - clock.now());
  while (clock.now() < at && !signal?.aborted) await new Promise<void>((r) => setImmediate(r));
  clock.clearTimeout(instant);
}

interface Slot {
  play: DesiredPlay;
  handle: PlayHandle | null;
  /** Why the play was stopped early: `preempted-by:<what>`, `cancelled`, `expired`. */
  stopReason: string | null;
  /** Aborted when the play is preempted before its instant. */
  waiting: AbortController;
}

export class Player extends EventEmitter<PlayerEvents> {
  private current: Slot | null = null;
  private ampOffTimer: ClockTimer | null = null;
  private ampOn = false;
  /** The tail's switch-off while it is on the wire; a new switch-on waits for it. */
  private switchingOff: Promise<unknown> = Promise.resolve();
  /** Counts warm-ups, so amp-test knows a play took the amplifier while it tested. */
  private claims = 0;

  constructor(private readonly d: PlayerDeps) {
    super();
  }

  get playing(): DesiredPlay | null {
    return this.current?.play ?? null;
  }

  /** Stops the current play; its report says it was interrupted by `by`. */
  preempt(by: string): void {
    this.stopCurrent(`preempted-by:${by}`);
  }

  /** Stops the current play (ffmpeg ended cleanly); its report is `interrupted` with `reason`. */
  stopCurrent(reason: string): void {
    if (!this.current) return;
    this.current.stopReason = reason;
    this.current.waiting.abort(); // not started yet: give way now, not at its instant
    this.current.handle?.stop();
  }

  async warmUp(): Promise<string | undefined> {
    this.claims++;
    this.cancelAmpOff();
    if (this.ampOn) return undefined;
    try {
      await this.switchingOff;
      await this.d.amplifier.powerOn();
      this.ampOn = true;
      return undefined;
    } catch (err) {
      this.d.logger.error({ err: (err as Error).message }, 'amplifier did not switch on; playing anyway');
      return (err as Error).message;
    }
  }

  private cancelAmpOff(): void {
    if (this.ampOffTimer) this.d.clock.clearTimeout(this.ampOffTimer);
    this.ampOffTimer = null;
  }

  private scheduleAmpOff(): void {
    this.cancelAmpOff();
    this.ampOffTimer = this.d.clock.setTimeout(() => {
      this.ampOffTimer = null;
      this.switchingOff = this.d.amplifier.powerOff().then(
        () => (this.ampOn = false),
        (err: unknown) => this.d.logger.error({ err: (err as Error).message }, 'amplifier did not switch off'),
      );
    }, this.d.tailMs);
  }

  /**
   * The technician's amp-test: on, status, off. It never switches off an amplifier a play is
   * using or about to use, and never races the tail's switch-off (issue 14): a pending tail is
   * held while the board is read, then armed again; one already on the wire is waited for.
   */
  async testAmplifier(): Promise<{ status: AmpStatus; switched: boolean }> {
    let off: Promise<unknown>;
    do {
      off = this.switchingOff;
      await off;
    } while (off !== this.switchingOff);
    if (this.current) return { status: await this.d.amplifier.status(), switched: false };
    const claims = this.claims;
    const untouched = () => this.claims === claims && !this.current;
    if (this.ampOn) {
      this.cancelAmpOff();
      try {
        return { status: await this.d.amplifier.status(), switched: false };
      } finally {
        if (untouched()) this.scheduleAmpOff();
      }
    }
    await this.d.amplifier.powerOn();
    try {
      return { status: await this.d.amplifier.status(), switched: true };
    } finally {
      // A play warmed up meanwhile: the amplifier is its now.
      if (untouched()) await this.d.amplifier.powerOff();
      else this.ampOn = true;
    }
  }

  /**
   * Plays `file` (or, for a relay, the play's stream until its window ends) at `play.startAt`
   * (or now, if that passed) and returns the report. `live`: a live announcement's frames, played
   * from now on at their instants (the session's timeline decides when audio starts).
   */
  async run(play: DesiredPlay, file: string | null, volume: number, ampError: string | undefined, live?: LiveFeed): Promise<PlayReport> {
    const base = { v: 1 as const, reportId: newId(), playId: play.playId, scheduleId: play.scheduleId, contentId: play.contentId, scheduledAt: play.startAt };
    const amp = ampError ? { ampError } : {};
    const slot: Slot = { play, handle: null, stopReason: null, waiting: new AbortController() };
    this.current = slot;
    let prepared: PreparedPlay | null = null;
    try {
      const startAt = Date.parse(play.startAt);
      const windowEnd = startAt + play.durationMs;
      if (play.streamUrl && windowEnd <= this.d.clock.now()) return { ...base, status: 'skipped', reason: 'late', playedMs: 0, ...amp };
      if (!play.streamUrl && !file && !live) throw new Error('content-missing');
      // Processes start now, during the warm-up; the audio itself at the instant.
      const source: PlaySource = live ? { live } : play.streamUrl ? { streamUrl: play.streamUrl, untilMs: windowEnd } : { file: file! };
      const filePlay = 'file' in source;
      const enteredAt = this.d.clock.now();
      prepared = this.d.sink.prepare(source, { playId: play.playId, volume: play.volume ?? volume });
      const preparedAt = this.d.clock.now();
      if (!live) await waitUntil(this.d.clock, play.streamUrl ? startAt : startAt - PREROLL_MS, slot.waiting.signal);
      if (slot.stopReason) {
        prepared.cancel();
        return { ...base, status: 'interrupted', reason: slot.stopReason, playedMs: 0, ...amp };
      }
      // A relay keeps to its window: started late, it still ends on time.
      const releasedAt = this.d.clock.now();
      const inMs = filePlay ? Math.max(0, startAt - releasedAt) : 0;
      if (filePlay && releasedAt > startAt) {
        // Late (a box too busy, or the play given too late): say which step the time went to.
        this.d.logger.warn({ playId: play.playId, lateMs: releasedAt - startAt, enteredBeforeMs: startAt - enteredAt, prepareMs: preparedAt - enteredAt, releasedAfterPlannedMs: releasedAt - Math.max(preparedAt, startAt - PREROLL_MS) }, 'play released after its instant');
      }
      slot.handle = prepared.start(inMs);
      const startedAt = slot.handle.startsAtMs ?? this.d.clock.now() + inMs;
      prepared = null;
      // Told once the audio sounds (after this turn at the least: nothing but the audio happens then).
      const tell = () => this.emit('started', play, startedAt);
      const toStart = startedAt - this.d.clock.now();
      const told = toStart > 0 ? this.d.clock.setTimeout(tell, toStart) : (setImmediate(tell), null);
      const outcome = await slot.handle.done.finally(() => told && this.d.clock.clearTimeout(told));
      const endedAt = this.d.clock.now();
      // Stopped during the pre-roll: no audio sounded, as if stopped before the instant.
      if (outcome.stopped && endedAt < startedAt) return { ...base, status: 'interrupted', reason: slot.stopReason ?? 'stopped', playedMs: 0, ...amp };
      // A live session that ended before this speaker's turn came (it waited behind an alert).
      if (live && !outcome.stopped && outcome.playedMs === 0) return { ...base, status: 'skipped', reason: 'live-ended', playedMs: 0, ...amp };
      const times = { startedAt: iso(startedAt), endedAt: iso(endedAt), playedMs: outcome.playedMs, ...amp };
      if (outcome.stopped && slot.stopReason) return { ...base, status: 'interrupted', reason: slot.stopReason, ...times };
      if (outcome.stopped) return { ...base, status: 'interrupted', reason: 'stopped', ...times };
      if (play.streamUrl && outcome.playedMs === 0) return { ...base, status: 'failed', reason: `stream-unavailable: ${outcome.lastError ?? 'no audio'}`.slice(0, 500), ...times };
      if (outcome.drops) return { ...base, status: 'completed', reason: `stream-dropped:${outcome.drops}`, ...times };
      return { ...base, status: 'completed', ...times };
    } catch (err) {
      prepared?.cancel();
      return { ...base, status: 'failed', reason: (err as Error).message.slice(0, 500), playedMs: 0, ...amp };
    } finally {
      if (this.current === slot) this.current = null;
      this.scheduleAmpOff();
    }
  }

  /** Stops any play and switches the amplifier off now. */
  async shutdown(): Promise<void> {
    this.current?.handle?.stop();
    this.cancelAmpOff();
    if (this.ampOn) await this.d.amplifier.powerOff().catch(() => undefined);
    this.ampOn = false;
  }
}
