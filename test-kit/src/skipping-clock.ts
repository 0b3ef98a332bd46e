import { MAX_TIMER_MS, type Clock, type ClockTimer } from '@loalang/protocol';

interface Armed {
  at: number;
  fn: () => void;
  handle: NodeJS.Timeout | null;
}

/**
 * Real time that can be made to pass at once: a compressed day. `skip(ms)` moves the clock `ms`
 * ahead, and every timer due in those `ms` fires then, in the order it was due (late, as after a
 * suspend: what it arms in turn counts from the new time); the others keep their instants. The
 * rest of the time runs in real time, so a play, its ffmpeg and its network run as in the field;
 * only the hours between them are skipped. Unlike ManualClock, nothing stands still.
 */
export class SkippingClock implements Clock {
  private skippedMs = 0;
  private seq = 0;
  private readonly timers = new Map<number, Armed>();

  now(): number {
    return Date.now() + this.skippedMs;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN (an invalid date?)');
    const id = ++this.seq;
    const timer: Armed = { at: this.now() + Math.max(0, ms), fn, handle: null };
    this.timers.set(id, timer);
    this.arm(id, timer);
    return { id };
  }

  clearTimeout(timer: ClockTimer): void {
    const armed = this.timers.get(timer.id as number);
    if (armed?.handle) clearTimeout(armed.handle);
    this.timers.delete(timer.id as number);
  }

  /** Makes `ms` pass at once: the timers due in them fire, soonest first. */
  skip(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`skip(${ms}): time only moves forward`);
    this.skippedMs += ms;
    const now = this.now();
    const due: [number, Armed][] = [];
    for (const entry of this.timers) {
      if (entry[1].handle) clearTimeout(entry[1].handle);
      if (entry[1].at <= now) due.push(entry);
      else this.arm(...entry);
    }
    due.sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
    for (const [id, timer] of due) {
      // An earlier one may have cancelled it.
      if (!this.timers.delete(id)) continue;
      timer.fn();
    }
  }

  private arm(id: number, timer: Armed): void {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, timer.at - this.now()));
    timer.handle = setTimeout(() => {
      timer.handle = null;
      if (this.now() < timer.at) return this.arm(id, timer); // a wait past Node's longest timer
      this.timers.delete(id);
      timer.fn();
    }, wait);
  }
}
