/**
 * How far this box's clock is from the server's, measured over MQTT the way NTP does: the
 * agent sends its time t0, the server answers with when the probe arrived (t1) and when the
 * answer left (t2), the agent notes t3 on arrival.
 *
 * No leg of a trip takes less than no time, so each probe bounds the offset (server clock minus
 * this one): it is at most t1 − t0 (the way up) and at least t2 − t3 (the way down). The estimate
 * is the middle of the range every probe allows: the fastest way up and the fastest way down
 * seen, each from whichever probe had it. On a 4G link whose legs vary independently this is
 * several times closer than the offset of the fastest round trip, which needs one probe lucky
 * both ways (decision 0025, "Clocks"). If the probes allow no offset at all, a clock was stepped
 * (an NTP correction here, or the server's) or drifted: the older probes that disagree with the
 * newest are dropped, and the clock is measured again.
 */
import { every, type Clock, type Logger, type Repeating, type TimeReply } from '@loalang/protocol';

export interface ClockProbe {
  /** Server clock minus this clock (ms), as this probe alone measures it: the middle of what it allows. */
  offsetMs: number;
  rttMs: number;
}

/** The range of offsets a probe allows: at most its way up (t1 − t0), at least minus its way down (t2 − t3). */
const upOf = (p: ClockProbe): number => p.offsetMs + p.rttMs / 2;
const downOf = (p: ClockProbe): number => p.rttMs / 2 - p.offsetMs;

/** The offsets a set of probes allows: the middle (`offsetMs`) and the width (`spreadMs`, negative when they allow none). */
function rangeOf(probes: ClockProbe[]): { offsetMs: number; spreadMs: number } {
  const up = Math.min(...probes.map(upOf));
  const down = Math.min(...probes.map(downOf));
  return { offsetMs: (up - down) / 2, spreadMs: up + down };
}

/** The middle of the offsets every probe allows; null with fewer than 3 probes, or when they allow none. */
export function estimateOffset(probes: ClockProbe[]): { offsetMs: number; spreadMs: number; used: number } | null {
  if (probes.length < 3) return null;
  const range = rangeOf(probes);
  return range.spreadMs < -CLOCK_STEP_TOLERANCE_MS ? null : { ...range, used: probes.length };
}

/** A change of the box clock against the monotonic one from this size on is a step (below: Date.now's whole milliseconds). */
const CLOCK_STEP_MIN_MS = 5;

/** Probes that allow no common offset by less than this are rounding (timer and stamp resolution), not a step. */
const CLOCK_STEP_TOLERANCE_MS = 2;

/**
 * The newest probes that allow an offset in common with `probe`, oldest first, ending with it.
 * A clock that drifts or is slewed drops the oldest; one stepped drops all that came before.
 */
function agreeingWith<P extends ClockProbe>(probes: P[], probe: P): P[] {
  let up = upOf(probe);
  let down = downOf(probe);
  let from = probes.length;
  while (from > 0) {
    const p = probes[from - 1]!;
    const u = Math.min(up, upOf(p));
    const d = Math.min(down, downOf(p));
    if (u + d < -CLOCK_STEP_TOLERANCE_MS) break;
    up = u;
    down = d;
    from--;
  }
  return [...probes.slice(from), probe];
}

/**
 * Probes of the clock a speaker wants before it plays a live announcement: over a jittery 4G link
 * (±30 ms each way) the estimate from 24 puts two speakers within 8 ms of each other (p99), and
 * they must sound within 20 ms (decision 0025). One with fewer sends LIVE_CLOCK_BURST when it
 * joins a session; one connected a while has them already. While a session plays, a probe goes
 * every LIVE_CLOCK_FOLLOW_MS, so a long announcement follows a box clock that drifts.
 */
export const LIVE_CLOCK_PROBES = 24;
/**
 * Probes older than this are dropped: a box clock drifting 20 ppm moves 12 ms in 10 minutes. Two
 * of the regular bursts (every 5 minutes) fit in it.
 */
export const CLOCK_PROBE_MAX_AGE_MS = 11 * 60_000;
export const LIVE_CLOCK_BURST = { probes: 16, gapMs: 40 };
export const LIVE_CLOCK_FOLLOW_MS = 1000;

export interface ClockSyncOptions {
  /** This box's clock: probes are stamped with it, and bursts and the gaps in them wait on it. */
  clock: Clock;
  send: (t0: number) => Promise<void>;
  logger: Logger;
  /** Probes per burst and the gap between them. */
  burst?: number;
  gapMs?: number;
  /** A burst this often (and on every connect). */
  everyMs?: number;
  /**
   * A clock that is never stepped (performance.now: Linux slews it with the wall clock, but never
   * steps it). With it, a step of `clock` (an NTP correction, a technician's `date -s`) is seen
   * the moment server time is next read, and the probes and the estimate move with it: server
   * time does not jump. Without it (fake clocks in tests), a step is found by the next probe.
   */
  monotonic?: () => number;
  /** Probes kept for the estimate: at most `keep`, none older than `maxAgeMs` (a box clock drifts). */
  keep?: number;
  maxAgeMs?: number;
}

export class ClockSync {
  /** With when each reply arrived (this clock). */
  private probes: (ClockProbe & { atMs: number })[] = [];
  /** Probes sent and not yet answered (t0 → how many): each takes exactly one reply. */
  private readonly pending = new Map<number, number>();
  private aheadMs: number | undefined;
  private timer: Repeating | null = null;
  private following: Repeating | null = null;
  private bursting = false;
  /** Stopped: a burst under way sends no further probe. */
  private stopped = false;
  /** `clock` minus `monotonic` when last seen: it changes only when `clock` is stepped. */
  private stepBase: number | undefined;

  constructor(private readonly o: ClockSyncOptions) {}

  start(): void {
    this.stopped = false;
    this.timer = every(this.o.clock, this.o.everyMs ?? 300_000, () => void this.burst());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = null;
    this.unfollow();
    this.stopped = true;
  }

  /** One probe every `gapMs` until unfollow(), besides the bursts (while a live session plays). */
  follow(gapMs: number): void {
    if (this.following || this.stopped) return;
    this.following = every(this.o.clock, gapMs, () => void this.probe());
  }

  unfollow(): void {
    this.following?.stop();
    this.following = null;
  }

  /** Sends `count` probes `gapMs` apart (by default the options'); one burst at a time. */
  async burst(count = this.o.burst ?? 8, gapMs = this.o.gapMs ?? 250): Promise<void> {
    if (this.bursting) return;
    this.bursting = true;
    try {
      for (let i = 0; i < count && !this.stopped; i++) {
        await this.probe();
        await new Promise<void>((r) => this.o.clock.setTimeout(r, gapMs));
      }
    } finally {
      this.bursting = false;
    }
  }

  private async probe(): Promise<void> {
    const t0 = this.o.clock.now();
    this.pending.set(t0, (this.pending.get(t0) ?? 0) + 1);
    if (this.pending.size > 64) this.pending.delete(this.pending.keys().next().value!);
    await this.o.send(t0).catch(() => undefined);
  }

  /**
   * `t3`: when the reply arrived, taken before anything else (checking its signature) ran, so
   * that work does not count as network delay.
   */
  onReply(r: TimeReply, t3 = this.o.clock.now()): void {
    this.followSteps();
    // Not a probe of ours, or one already answered (a replayed reply).
    const waiting = this.pending.get(r.t0);
    if (!waiting) return;
    if (waiting > 1) this.pending.set(r.t0, waiting - 1);
    else this.pending.delete(r.t0);
    const rttMs = t3 - r.t0 - (r.t2 - r.t1);
    // A reply so late it says nothing useful.
    if (rttMs < 0 || rttMs > 10_000 || r.t0 > t3) return;
    const probe = { offsetMs: (r.t1 - r.t0 + (r.t2 - t3)) / 2, rttMs, atMs: t3 };
    const agreeing = agreeingWith(this.probes, probe);
    const dropped = this.probes.length + 1 - agreeing.length;
    const since = t3 - (this.o.maxAgeMs ?? CLOCK_PROBE_MAX_AGE_MS);
    this.probes = agreeing.filter((p) => p.atMs >= since).slice(-(this.o.keep ?? 64));
    if (dropped > 0) {
      // All of them: a step (or the server's clock moved); some: the oldest, of a drifting clock.
      const level = agreeing.length === 1 ? 'warn' : 'debug';
      this.o.logger[level]({ dropped, wasAheadMs: this.aheadMs }, 'clock moved: older probes no longer agree, measuring again');
      if (this.probes.length < 3) void this.burst();
    }
    // Once known, the estimate follows whatever probes agree, even fewer than three after a step.
    if (this.probes.length >= 3 || (dropped > 0 && this.aheadMs !== undefined)) this.aheadMs = Math.round(-rangeOf(this.probes).offsetMs * 10) / 10;
  }

  /** Probes the estimate is made of (at most `keep`). */
  probeCount(): number {
    return this.probes.length;
  }

  /**
   * This clock minus the server's (ms): positive when this box is ahead; undefined before 3
   * probes (after a step, the newest probe's until 3 agree again).
   */
  deviceAheadMs(): number | undefined {
    this.followSteps();
    return this.aheadMs;
  }

  /**
   * If `clock` was stepped since last seen, moves what was measured against it by the step: the
   * offsets of the probes kept, and the estimate. Replies on their way are dropped (their t0 is
   * of the old clock). Changes under CLOCK_STEP_MIN_MS are the two clocks' resolution.
   */
  private followSteps(): void {
    if (!this.o.monotonic) return;
    const base = this.o.clock.now() - this.o.monotonic();
    const stepMs = base - (this.stepBase ?? base);
    if (this.stepBase !== undefined && Math.abs(stepMs) < CLOCK_STEP_MIN_MS) return;
    this.stepBase = base;
    if (stepMs === 0) return;
    this.probes = this.probes.map((p) => ({ ...p, offsetMs: p.offsetMs - stepMs, atMs: p.atMs + stepMs }));
    this.pending.clear();
    if (this.aheadMs !== undefined) this.aheadMs = Math.round((this.aheadMs + stepMs) * 10) / 10;
    this.o.logger.warn({ stepMs: Math.round(stepMs), aheadMs: this.aheadMs }, 'this box\'s clock was stepped: server time kept, the offset moved with it');
  }
}

/**
 * The server's time as this box best knows it: its own clock minus the measured offset.
 * Plays and alerts carry instants in server time, so speakers whose clocks disagree still
 * start together (issue 5). Before the first estimate it is the box's own clock.
 */
export function serverTimeClock(clock: Clock, sync: Pick<ClockSync, 'deviceAheadMs'>): Clock {
  return {
    now: () => clock.now() - (sync.deviceAheadMs() ?? 0),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (t) => clock.clearTimeout(t),
  };
}
