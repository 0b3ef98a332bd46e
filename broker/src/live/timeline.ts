/**
 * A live session's timeline on the node (issue 18, decision 0025): where each frame from the
 * source plays. Frame n of the node's timeline sounds at `anchorMs + n × 20 ms` on every speaker;
 * the anchor is the first frame's arrival plus the playout delay.
 *
 * The source's frames come at its sample clock's pace, which runs a little fast or slow against
 * server time, and its link stalls now and then. Each frame's slack (its instant less its
 * arrival) should stay near the playout delay:
 * - a frame that arrives with less than a quarter of the delay left (the source stalled) moves
 *   the timeline on at once, so it and the frames after it have the whole delay again: the
 *   speakers hear a short gap, not seconds of frames that come too late to play;
 * - every second, if the median slack of the last five seconds is more than 100 ms off the delay
 *   (the source's clock drifted, or a burst after a stall), the timeline moves by that much:
 *   frames are dropped (a fast source) or a gap is left (a slow one).
 * So no speaker's buffer grows over a long announcement, and all make the same correction at
 * the same frame.
 */
import { LIVE_FRAME_MS } from '@loalang/protocol';

/** The default playout delay: the node → speaker budget of decision 0025. */
export const DEFAULT_PLAYOUT_DELAY_MS = 900;
/** Slack further off the delay than this (median) is corrected. */
export const DRIFT_BAND_MS = 100;
const WINDOW_FRAMES = 250; // 5 s
const CHECK_EVERY_FRAMES = 50; // 1 s

export interface TimelineCounts {
  /** Frames placed on the timeline, and dropped to keep it (a fast source). */
  placed: number;
  dropped: number;
  /** Indices left without a frame (a slow or stalled source, or frames it lost): speakers conceal them. */
  gapFrames: number;
  /** Times the timeline was moved on at once because a frame came with too little time left. */
  stalls: number;
}

export class LiveTimeline {
  /** Server time (ms) at which frame 0 plays; null before the first frame. */
  anchorMs: number | null = null;
  /** Node index less source index. */
  private shift = 0;
  private lastNodeIndex = -1;
  private readonly slacks: number[] = [];
  private sinceCheck = 0;
  private readonly counts: TimelineCounts = { placed: 0, dropped: 0, gapFrames: 0, stalls: 0 };

  constructor(readonly delayMs: number = DEFAULT_PLAYOUT_DELAY_MS) {
    if (!(delayMs >= 4 * LIVE_FRAME_MS)) throw new RangeError(`the playout delay must be at least ${4 * LIVE_FRAME_MS} ms`);
  }

  instantOf(nodeIndex: number): number {
    if (this.anchorMs === null) throw new Error('no frame yet');
    return this.anchorMs + nodeIndex * LIVE_FRAME_MS;
  }

  /**
   * Where the source's frame `sourceIndex`, arrived at `arrivalMs` (server time), plays: its
   * index on the node's timeline, or null when it is dropped (a frame older than one already
   * placed, or one dropped to catch up with a fast source).
   */
  place(sourceIndex: number, arrivalMs: number): number | null {
    if (this.anchorMs === null) {
      this.anchorMs = arrivalMs + this.delayMs;
      this.shift = -sourceIndex;
    }
    let nodeIndex = sourceIndex + this.shift;
    if (nodeIndex <= this.lastNodeIndex) {
      this.counts.dropped++;
      return null;
    }
    let slack = this.instantOf(nodeIndex) - arrivalMs;
    if (slack < this.delayMs / 4) {
      const frames = Math.ceil((this.delayMs - slack) / LIVE_FRAME_MS);
      this.moveBy(frames);
      this.counts.stalls++;
      nodeIndex += frames;
      slack += frames * LIVE_FRAME_MS;
    }
    if (this.lastNodeIndex >= 0) this.counts.gapFrames += nodeIndex - this.lastNodeIndex - 1;
    this.lastNodeIndex = nodeIndex;
    this.counts.placed++;
    this.slacks.push(slack);
    if (this.slacks.length > WINDOW_FRAMES) this.slacks.shift();
    if (++this.sinceCheck >= CHECK_EVERY_FRAMES) {
      this.sinceCheck = 0;
      this.correctDrift();
    }
    return nodeIndex;
  }

  counters(): TimelineCounts {
    return { ...this.counts };
  }

  private moveBy(frames: number): void {
    this.shift += frames;
    // Slack measured before the move is off by as much: the median must see the timeline as it is now.
    for (let i = 0; i < this.slacks.length; i++) this.slacks[i]! += frames * LIVE_FRAME_MS;
  }

  private correctDrift(): void {
    if (this.slacks.length < CHECK_EVERY_FRAMES) return;
    const sorted = [...this.slacks].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    const off = median - this.delayMs;
    if (Math.abs(off) <= DRIFT_BAND_MS) return;
    // Too much slack (a fast source): move back, and the next frames that land on indices already
    // placed are dropped; too little (a slow one): move on, leaving a gap.
    this.moveBy(-Math.trunc(off / LIVE_FRAME_MS));
  }
}
