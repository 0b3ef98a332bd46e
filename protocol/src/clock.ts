/** All scheduling goes through an injected clock so tests can run on fake time. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms`, however long (see armLongTimer); a negative wait fires at once. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
}

export interface ClockTimer {
  readonly id: unknown;
}

/**
 * The longest wait a Node timer honours: past 2^31−1 ms (~24.8 days) Node fires it after 1 ms
 * and prints TimeoutOverflowWarning. An alert expiring in 2099 must not end at once (issue 14).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer functions a long timer is built on: the host's, or a test's. */
export interface TimerHost {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const nodeTimers: TimerHost = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A timer armed by armLongTimer: `cancel()` stops it, whichever step it is waiting in. */
export interface LongTimer {
  cancel(): void;
  /** Keeps the process from exiting while it waits (Node's default); false: never holds it open. */
  unref(): LongTimer;
}

/**
 * Calls `fn` once `ms` have passed on the host's clock, for any `ms`: a wait longer than
 * MAX_TIMER_MS is armed in steps, each re-reading the clock, so it neither fires early nor
 * drifts. `Infinity` never fires; NaN is a programming error (an unparsable date) and throws.
 */
export function armLongTimer(fn: () => void, ms: number, host: TimerHost = nodeTimers): LongTimer {
  if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN (an invalid date?)');
  const due = host.now() + Math.max(0, ms);
  let handle: unknown = null;
  let cancelled = false;
  let unrefd = false;
  const arm = (): void => {
    if (cancelled || !Number.isFinite(due)) return;
    const wait = Math.max(0, due - host.now());
    const step = Math.min(wait, MAX_TIMER_MS);
    handle = host.setTimeout(() => {
      handle = null;
      if (cancelled) return;
      if (step < wait) arm();
      else fn();
    }, step);
    if (unrefd) (handle as { unref?: () => void } | null)?.unref?.();
  };
  arm();
  const timer: LongTimer = {
    cancel() {
      cancelled = true;
      if (handle !== null) host.clearTimeout(handle);
      handle = null;
    },
    unref() {
      unrefd = true;
      (handle as { unref?: () => void } | null)?.unref?.();
      return timer;
    },
  };
  return timer;
}

/** The host's clock, with timers that hold for any wait. */
export function hostClock(host: TimerHost = nodeTimers): Clock {
  return {
    now: () => host.now(),
    setTimeout: (fn, ms) => ({ id: armLongTimer(fn, ms, host) }),
    clearTimeout: (timer) => (timer.id as LongTimer).cancel(),
  };
}

export const systemClock: Clock = hostClock();

/**
 * Time that moves only when told: for tests of timers (tails, expiries, re-arms) without
 * sleeping. `advance(ms)` fires the timers that fall due, in order, each at its own instant.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN (an invalid date?)');
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(timer: ClockTimer): void {
    this.timers.delete(timer.id as number);
  }

  /** How many timers are armed. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing each timer that falls due at its instant. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.timers) if (entry[1].at <= until && (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[0] < next[0]))) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = until;
  }
}
