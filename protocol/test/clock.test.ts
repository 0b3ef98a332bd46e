/** Long timers: a wait past Node's 2^31−1 ms limit fires when due, never at once (issue 14). */
import { describe, expect, it } from 'vitest';
import { armLongTimer, hostClock, ManualClock, MAX_TIMER_MS, systemClock, type TimerHost } from '@loalang/protocol';

/** A host whose timers behave like Node's, overflow included: past the limit they fire after 1 ms. */
class NodeLikeHost implements TimerHost {
  t = 0;
  armed: number[] = [];
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.armed.push(ms);
    const id = this.next++;
    this.timers.set(id, { at: this.t + (ms > MAX_TIMER_MS || !(ms >= 1) ? 1 : ms), fn });
    return id;
  };
  clearTimeout = (id: unknown) => void this.timers.delete(id as number);
  /** Moves time forward to `until`, firing timers in order. */
  advance(until: number): void {
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = until;
  }
}

const YEAR = 365.25 * 24 * 3600_000;

describe('armLongTimer', () => {
  it('fires a wait of 73 years when due, arming no step past the limit', () => {
    const host = new NodeLikeHost();
    let firedAt: number | null = null;
    const wait = 73 * YEAR; // 2026 → 2099
    armLongTimer(() => (firedAt = host.t), wait, host);
    host.advance(wait - 1);
    expect(firedAt).toBeNull();
    host.advance(wait + 10);
    expect(firedAt).toBe(wait);
    expect(Math.max(...host.armed)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('is cancelled in any step', () => {
    const host = new NodeLikeHost();
    let fired = false;
    const timer = armLongTimer(() => (fired = true), 3 * MAX_TIMER_MS, host);
    host.advance(MAX_TIMER_MS + 5);
    timer.cancel();
    host.advance(4 * MAX_TIMER_MS);
    expect(fired).toBe(false);
  });

  it('fires a negative or zero wait at once, never fires Infinity, and refuses NaN', () => {
    const host = new NodeLikeHost();
    const fired: string[] = [];
    armLongTimer(() => fired.push('neg'), -5000, host);
    armLongTimer(() => fired.push('inf'), Infinity, host);
    host.advance(100 * YEAR);
    expect(fired).toEqual(['neg']);
    expect(() => armLongTimer(() => undefined, Date.parse('not a date'), host)).toThrow(RangeError);
  });

  it('the clock built on it holds the same promise', () => {
    const host = new NodeLikeHost();
    const clock = hostClock(host);
    let fired = 0;
    const timer = clock.setTimeout(() => fired++, 40 * 24 * 3600_000);
    host.advance(39 * 24 * 3600_000);
    expect(fired).toBe(0);
    clock.clearTimeout(timer);
    host.advance(50 * 24 * 3600_000);
    expect(fired).toBe(0);
  });

  it('the system clock does not fire a 30-day timer after a millisecond', async () => {
    let fired = false;
    const timer = systemClock.setTimeout(() => (fired = true), 30 * 24 * 3600_000);
    await new Promise((r) => setTimeout(r, 50));
    systemClock.clearTimeout(timer);
    expect(fired).toBe(false);
  });
});

/** Work that awaits between timers, as a play does: waits 100 ms, does async work, waits 50 ms more. */
async function twoStep(clock: ManualClock, log: number[]): Promise<void> {
  await new Promise<void>((r) => clock.setTimeout(r, 100));
  log.push(clock.now());
  await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r)); // a callback queued for the next turn, like an I/O answer
  await new Promise<void>((r) => clock.setTimeout(r, 50));
  log.push(clock.now());
}

describe('ManualClock', () => {
  it('advance fires due timers in order, each at its own instant, and leaves later ones armed', () => {
    const clock = new ManualClock(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 30);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
    clock.setTimeout(() => fired.push(['c', clock.now()]), 30); // same instant as b: armed after it, fires after it
    const late = clock.setTimeout(() => fired.push(['late', clock.now()]), 500);
    clock.setTimeout(() => fired.push(['neg', clock.now()]), -5);
    expect(clock.nextAt).toBe(1000);
    expect(clock.dueTimes).toEqual([1000, 1010, 1030, 1030, 1500]);
    clock.advance(100);
    expect(fired).toEqual([['neg', 1000], ['a', 1010], ['b', 1030], ['c', 1030]]);
    expect(clock.now()).toBe(1100);
    expect(clock.pending).toBe(1);
    expect(clock.nextAt).toBe(1500);
    expect(clock.dueTimes).toEqual([1500]);
    clock.clearTimeout(late);
    expect(clock.nextAt).toBeUndefined();
    expect(clock.dueTimes).toEqual([]);
    expect(() => clock.setTimeout(() => undefined, NaN)).toThrow(RangeError);
  });

  it('advance does not wait for work between timers; advanceAsync does, and fires what that work arms', async () => {
    const sync = new ManualClock(0);
    const syncLog: number[] = [];
    const a = twoStep(sync, syncLog);
    sync.advance(1000);
    expect(syncLog).toEqual([]); // the first wait resolved, but nothing after it ran yet
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(syncLog).toEqual([1000]); // and it ran at the end of the advance, not at 100
    sync.advance(50);
    await a;

    const clock = new ManualClock(0);
    const log: number[] = [];
    const b = twoStep(clock, log);
    await clock.advanceAsync(1000);
    expect(log).toEqual([100, 150]);
    expect(clock.now()).toBe(1000);
    await b;
  });

  it('advanceAsync stops at its end: a timer the work arms past it stays armed', async () => {
    const clock = new ManualClock(0);
    const log: number[] = [];
    void twoStep(clock, log);
    await clock.advanceAsync(120);
    expect(log).toEqual([100]);
    expect(clock.now()).toBe(120);
    expect(clock.nextAt).toBe(150);
    await clock.advanceAsync(30);
    expect(log).toEqual([100, 150]);
  });

  it('runUntil moves time only as far as the condition needs', async () => {
    const clock = new ManualClock(0);
    const log: number[] = [];
    void twoStep(clock, log);
    clock.setTimeout(() => undefined, 10_000);
    await clock.runUntil(() => log.length === 2);
    expect(clock.now()).toBe(150);
    expect(clock.pending).toBe(1);
    await clock.runUntil(() => true); // already true: nothing fires
    expect(clock.now()).toBe(150);
  });

  it('runUntil rejects when nothing is left to fire, or when the next timer is past its limit', async () => {
    const clock = new ManualClock(0);
    await expect(clock.runUntil(() => false)).rejects.toThrow(/nothing left to wait for/);
    clock.setTimeout(() => undefined, 5000);
    await expect(clock.runUntil(() => false, 1000)).rejects.toThrow(/within 1000 ms/);
    expect(clock.now()).toBe(0);
    expect(clock.pending).toBe(1);
  });

  it('settle lets promise callbacks and setImmediate chains run without moving time', async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    void Promise.resolve().then(() => seen.push('microtask'));
    setImmediate(() => setImmediate(() => seen.push('second turn')));
    await clock.settle();
    expect(seen).toEqual(['microtask', 'second turn']);
    expect(clock.now()).toBe(0);
  });
});
