/** The compressed day's clock (test-kit): skipped time fires what fell due in it, in order; the rest keeps real time. */
import { describe, expect, it } from 'vitest';
import { SkippingClock } from '@loalang/test-kit';

const HOUR = 3600_000;

describe('SkippingClock', () => {
  it('fires the timers due in a skip, soonest first, and keeps the later ones at their instants', async () => {
    const clock = new SkippingClock();
    const fired: string[] = [];
    const t0 = clock.now();
    clock.setTimeout(() => fired.push(`b ${Math.round((clock.now() - t0) / HOUR)}`), 2 * HOUR);
    clock.setTimeout(() => fired.push('a'), 1 * HOUR);
    const cancelled = clock.setTimeout(() => fired.push('cancelled'), 1.5 * HOUR);
    clock.setTimeout(() => fired.push('later'), 3 * HOUR + 80);
    clock.clearTimeout(cancelled);
    clock.skip(3 * HOUR);
    expect(fired).toEqual(['a', 'b 3']);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(3 * HOUR);
    await new Promise((r) => setTimeout(r, 200));
    expect(fired).toEqual(['a', 'b 3', 'later']);
  });

  it('runs in real time between skips, and a timer armed in a skip counts from the new time', async () => {
    const clock = new SkippingClock();
    const fired: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 50), HOUR);
    clock.skip(HOUR);
    expect(fired).toEqual([]);
    await new Promise((r) => setTimeout(r, 150));
    expect(fired).toHaveLength(1);
    expect(() => clock.skip(-1)).toThrow(RangeError);
  });
});
