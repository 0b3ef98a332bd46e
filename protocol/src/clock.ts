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

/** Event-loop turns `ManualClock.settle` gives: enough for a callback that queues another, twice over. */
const SETTLE_TURNS = 4;

/**
 * Time that moves only when told: for tests of timers (tails, expiries, re-arms) without
 * sleeping. `advance(ms)` fires the timers that fall due, in order, each at its own instant.
 * Code that awaits between timers (a play that awaits its sink, then arms its tail) is driven
 * by `advanceAsync` or `runUntil`, which let that work run after each timer (`settle`).
 * Drive one clock from one place at a time: an `advance` during an `advanceAsync` is not supported.
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

  /** The instant the next timer falls due, or undefined when none is armed. */
  get nextAt(): number | undefined {
    return this.due(Infinity)?.[1].at;
  }

  /** The instants the armed timers fall due, soonest first. */
  get dueTimes(): number[] {
    return [...this.timers.values()].map((t) => t.at).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing each timer that falls due at its instant. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (let next = this.due(until); next; next = this.due(until)) this.fire(next);
    this.t = until;
  }

  /**
   * Like `advance`, but after each timer (and before the first, and at the end) lets the work
   * it started run (`settle`), so that what it arms on the clock in turn fires in the same call.
   */
  async advanceAsync(ms: number): Promise<void> {
    const until = this.t + ms;
    await this.settle();
    for (let next = this.due(until); next; next = this.due(until)) {
      this.fire(next);
      await this.settle();
    }
    this.t = until;
    await this.settle();
  }

  /**
   * Fires timers one at a time, in order, settling after each, until `done()` holds: time
   * moves only as far as the work needs. Rejects when `done()` still fails with no timer left
   * to fire, or with the next one more than `maxMs` from where it started.
   */
  async runUntil(done: () => boolean, maxMs = 24 * 3600_000): Promise<void> {
    const limit = this.t + maxMs;
    await this.settle();
    while (!done()) {
      const next = this.due(limit);
      if (!next) throw new Error(this.timers.size === 0 ? 'ManualClock.runUntil: nothing left to wait for, and the condition does not hold' : `ManualClock.runUntil: the condition does not hold within ${maxMs} ms`);
      this.fire(next);
      await this.settle();
    }
  }

  /**
   * Lets work that is not waiting on this clock run: promise callbacks, and what they queue
   * with setImmediate, a few turns of the event loop deep. It never sleeps.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < SETTLE_TURNS; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** The earliest timer due by `until` (the first armed among those due at the same instant). */
  private due(until: number): [number, { at: number; fn: () => void }] | null {
    let next: [number, { at: number; fn: () => void }] | null = null;
    for (const entry of this.timers) if (entry[1].at <= until && (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[0] < next[0]))) next = entry;
    return next;
  }

  private fire([id, timer]: [number, { at: number; fn: () => void }]): void {
    this.timers.delete(id);
    this.t = timer.at;
    timer.fn();
  }
}

/** A repeating timer on a clock (the Clock has only one-shot timers). */
export interface Repeating {
  stop(): void;
}

/**
 * Calls `fn` every `ms` on `clock` until stopped, as setInterval does: each call's successor
 * is armed before it runs, so a slow or throwing `fn` neither shifts nor ends the rhythm.
 */
export function every(clock: Clock, ms: number, fn: () => void): Repeating {
  let timer: ClockTimer | null = null;
  let stopped = false;
  const arm = (): void => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      fn();
    }, ms);
  };
  arm();
  return {
    stop() {
      stopped = true;
      if (timer) clock.clearTimeout(timer);
      timer = null;
    },
  };
}
