import { describe, expect, it } from 'vitest';
import { LIVE_FRAME_MS } from '@loalang/protocol';
import { DRIFT_BAND_MS, LiveTimeline } from '../src/live/timeline.js';

/** A source whose frames are `periodMs` apart on server time, each arriving `jitter()` late. */
function run(timeline: LiveTimeline, frames: number, periodMs: number, jitter: () => number = () => 0, start = 1_000_000) {
  const placed: { source: number; node: number | null; slack: number | null }[] = [];
  for (let s = 0; s < frames; s++) {
    const arrival = start + s * periodMs + jitter();
    const node = timeline.place(s, arrival);
    placed.push({ source: s, node, slack: node === null ? null : timeline.instantOf(node) - arrival });
  }
  return placed;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

describe("a live session's timeline on the node", () => {
  it('plays a steady source frame for frame, the playout delay after the first arrival, through network jitter', () => {
    const timeline = new LiveTimeline(900);
    const placed = run(timeline, 3_000, LIVE_FRAME_MS, () => Math.random() * 150);
    expect(timeline.anchorMs).toBeGreaterThanOrEqual(1_000_900);
    expect(placed.every((p) => p.node === p.source)).toBe(true);
    expect(timeline.counters()).toEqual({ placed: 3_000, dropped: 0, gapFrames: 0, stalls: 0 });
  });

  it("keeps a fast source's frames from piling up over a long announcement: drops a frame now and then", () => {
    const timeline = new LiveTimeline(900);
    // 1 % fast (a 30-minute announcement at 50 ppm drifts 90 ms; this drifts 600 ms in a minute).
    const placed = run(timeline, 3_000, LIVE_FRAME_MS * 0.99);
    const lastSecond = placed.slice(-50).flatMap((p) => (p.slack === null ? [] : [p.slack]));
    expect(Math.abs(median(lastSecond) - 900)).toBeLessThanOrEqual(DRIFT_BAND_MS + LIVE_FRAME_MS);
    const { dropped, gapFrames } = timeline.counters();
    expect(dropped).toBeGreaterThanOrEqual(20); // 600 ms of frames, less what the band allows
    expect(dropped).toBeLessThanOrEqual(32);
    expect(gapFrames).toBe(0);
    const nodes = placed.flatMap((p) => (p.node === null ? [] : [p.node]));
    expect(nodes.every((n, i) => i === 0 || n > nodes[i - 1]!)).toBe(true);
  });

  it('leaves a gap now and then for a slow source, so its frames never come too late', () => {
    const timeline = new LiveTimeline(900);
    const placed = run(timeline, 3_000, LIVE_FRAME_MS * 1.01);
    const slacks = placed.flatMap((p) => (p.slack === null ? [] : [p.slack]));
    expect(Math.min(...slacks)).toBeGreaterThan(900 - 2 * DRIFT_BAND_MS);
    expect(timeline.counters().dropped).toBe(0);
    expect(timeline.counters().gapFrames).toBeGreaterThanOrEqual(20);
  });

  it('moves on at once when the source stalls, then takes back the slack of the burst that follows', () => {
    const timeline = new LiveTimeline(900);
    // 2 s of frames, then the operator's link stalls 1.5 s and delivers the frames held meanwhile at once.
    const arrival = (s: number) => (s < 100 ? s * LIVE_FRAME_MS : s < 175 ? 3_500 + (s - 100) * 0.2 : s * LIVE_FRAME_MS);
    const placed: { node: number | null; slack: number | null }[] = [];
    for (let s = 0; s < 600; s++) {
      const node = timeline.place(s, arrival(s));
      placed.push({ node, slack: node === null ? null : timeline.instantOf(node) - arrival(s) });
    }
    expect(timeline.counters().stalls).toBe(1);
    // Every frame placed after the stall still had at least a quarter of the delay to reach the speakers.
    expect(placed.slice(100).every((p) => p.slack === null || p.slack >= 900 / 4)).toBe(true);
    // And the timeline came back near the delay within a few seconds.
    const last = placed.slice(-50).flatMap((p) => (p.slack === null ? [] : [p.slack]));
    expect(Math.abs(median(last) - 900)).toBeLessThanOrEqual(DRIFT_BAND_MS + LIVE_FRAME_MS);
  });

  it('drops a frame that comes again or out of order, and refuses a delay too short to be one', () => {
    const timeline = new LiveTimeline(400);
    expect(timeline.place(10, 0)).toBe(0);
    expect(timeline.place(11, 20)).toBe(1);
    expect(timeline.place(11, 25)).toBeNull();
    expect(timeline.place(9, 30)).toBeNull();
    expect(timeline.place(13, 60)).toBe(3); // 12 was lost upstream: a gap the speakers conceal
    expect(timeline.counters()).toEqual({ placed: 3, dropped: 2, gapFrames: 1, stalls: 0 });
    expect(() => new LiveTimeline(50)).toThrow(/at least 80 ms/);
  });
});
