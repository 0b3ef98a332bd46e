/** Long timers: a wait past Node's 2^31−1 ms limit fires when due, never at once (issue 14). */
import { describe, expect, it } from 'vitest';
import { armLongTimer, hostClock, MAX_TIMER_MS, systemClock, type TimerHost } from '@loalang/protocol';

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
