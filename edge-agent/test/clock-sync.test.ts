/** The NTP-style estimate against a simulated server whose clock is off, over a jittery link. */
import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, type Clock } from '@loalang/protocol';
import { ClockSync, estimateOffset } from '../src/link/clock-sync.js';

/** A clock reading `now()`, its timers on `timers` (so the test decides when gaps pass). */
const clockOf = (now: () => number, timers = new ManualClock()): Clock => ({ now, setTimeout: (fn, ms) => timers.setTimeout(fn, ms), clearTimeout: (t) => timers.clearTimeout(t) });

/** Deterministic pseudo-random numbers, so the test never flakes. */
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('clock offset', () => {
  it('finds a 250 ms offset within 2 ms over a link with 20–400 ms asymmetric delays', async () => {
    const random = rng(42);
    let deviceNow = 1_000_000;
    const serverAhead = 250;
    const replies: (() => void)[] = [];
    const timers = new ManualClock();
    const sync = new ClockSync({
      clock: clockOf(() => deviceNow, timers),
      logger: silentLogger,
      burst: 40,
      gapMs: 0,
      send: async (t0) => {
        // Up and down legs differ; a few probes hit a congested cell.
        const up = 10 + random() * (random() < 0.2 ? 400 : 30);
        const down = 10 + random() * (random() < 0.2 ? 400 : 30);
        const t1 = t0 + up + serverAhead;
        const t2 = t1 + 1;
        replies.push(() => {
          deviceNow = t0 + up + 1 + down;
          sync.onReply({ v: 1, t0, t1, t2 });
        });
      },
    });
    const burst = sync.burst();
    await timers.advanceAsync(0); // the gaps (0 ms) pass
    await burst;
    expect(replies).toHaveLength(40);
    for (const r of replies) r();
    expect(Math.abs(sync.deviceAheadMs()! - -serverAhead)).toBeLessThan(2);
  });

  it('needs three probes, and ignores replies that cannot be its own', () => {
    expect(estimateOffset([{ offsetMs: 5, rttMs: 10 }, { offsetMs: 7, rttMs: 12 }])).toBeNull();
    expect(estimateOffset([{ offsetMs: 5, rttMs: 10 }, { offsetMs: 7, rttMs: 12 }, { offsetMs: 900, rttMs: 2000 }])).toMatchObject({ offsetMs: 7, used: 3 });
    const sync = new ClockSync({ clock: clockOf(() => 1000), logger: silentLogger, send: async () => undefined });
    sync.onReply({ v: 1, t0: 5000, t1: 1, t2: 2 }); // never sent
    sync.onReply({ v: 1, t0: 900, t1: 950, t2: 2000 }); // never sent
    expect(sync.deviceAheadMs()).toBeUndefined();
  });

  it('takes one reply per probe: a replayed reply adds nothing', async () => {
    let now = 1000;
    const sent: number[] = [];
    const timers = new ManualClock();
    const sync = new ClockSync({ clock: clockOf(() => now, timers), logger: silentLogger, burst: 3, gapMs: 0, send: async (t0) => void (sent.push(t0), (now += 1)) });
    const burst = sync.burst();
    await timers.advanceAsync(0);
    await burst;
    now = 1020;
    const reply = (t0: number) => ({ v: 1 as const, t0, t1: t0 + 510, t2: t0 + 511 });
    sync.onReply(reply(sent[0]!));
    sync.onReply(reply(sent[0]!)); // the same reply again
    sync.onReply(reply(sent[0]!));
    expect(sync.deviceAheadMs()).toBeUndefined(); // one probe answered, not three
    sync.onReply(reply(sent[1]!));
    sync.onReply(reply(sent[2]!));
    expect(sync.deviceAheadMs()).toBeDefined();
  });

  it('bursts every everyMs once started, its probes a gap apart, one burst at a time, and stops', async () => {
    const clock = new ManualClock(0);
    const sent: number[] = [];
    const sync = new ClockSync({ clock, logger: silentLogger, burst: 4, gapMs: 250, everyMs: 60_000, send: async (t0) => void sent.push(t0) });
    sync.start();
    await clock.advanceAsync(59_999);
    expect(sent).toEqual([]);
    await clock.advanceAsync(1);
    expect(sent).toEqual([60_000]);
    void sync.burst(); // a connect's burst while one runs: ignored
    await clock.advanceAsync(1000);
    expect(sent).toEqual([60_000, 60_250, 60_500, 60_750]);
    await clock.advanceAsync(60_000);
    expect(sent.slice(4)).toEqual([120_000, 120_250, 120_500, 120_750]);
    sync.stop();
    await clock.advanceAsync(600_000);
    expect(sent).toHaveLength(8);
  });

  it('a failed probe does not end the burst', async () => {
    const clock = new ManualClock(0);
    const sent: number[] = [];
    const sync = new ClockSync({ clock, logger: silentLogger, burst: 3, gapMs: 100, send: async (t0) => {
      sent.push(t0);
      throw new Error('not connected');
    } });
    const burst = sync.burst();
    await clock.advanceAsync(300);
    await burst;
    expect(sent).toEqual([0, 100, 200]);
  });
});
