/** The NTP-style estimate against a simulated server whose clock is off, over a jittery link. */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@loalang/protocol';
import { ClockSync, estimateOffset } from '../src/clock-sync.js';

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
    const sync = new ClockSync({
      now: () => deviceNow,
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
    await sync.burst();
    for (const r of replies) r();
    expect(Math.abs(sync.deviceAheadMs()! - -serverAhead)).toBeLessThan(2);
  });

  it('needs three probes, and ignores replies that cannot be its own', () => {
    expect(estimateOffset([{ offsetMs: 5, rttMs: 10 }, { offsetMs: 7, rttMs: 12 }])).toBeNull();
    expect(estimateOffset([{ offsetMs: 5, rttMs: 10 }, { offsetMs: 7, rttMs: 12 }, { offsetMs: 900, rttMs: 2000 }])).toMatchObject({ offsetMs: 7, used: 3 });
    const sync = new ClockSync({ now: () => 1000, logger: silentLogger, send: async () => undefined });
    sync.onReply({ v: 1, t0: 5000, t1: 1, t2: 2 }); // never sent
    sync.onReply({ v: 1, t0: 900, t1: 950, t2: 2000 }); // never sent
    expect(sync.deviceAheadMs()).toBeUndefined();
  });

  it('takes one reply per probe: a replayed reply adds nothing', async () => {
    let now = 1000;
    const sent: number[] = [];
    const sync = new ClockSync({ now: () => now, logger: silentLogger, burst: 3, gapMs: 0, send: async (t0) => void (sent.push(t0), (now += 1)) });
    await sync.burst();
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
});
