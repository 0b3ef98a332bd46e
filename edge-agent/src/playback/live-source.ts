/**
 * A live session as a play source (issue 18): the frames the receiver verified wait here until
 * the player starts the play, then go straight to its playout (live-playout.ts), which sounds
 * each at its instant on the session's timeline. The player treats it like any other source, so
 * the amplifier, preemption and the play report work as for a file.
 */
import { performance } from 'node:perf_hooks';
import { agentError } from '../errors.js';
import { LivePlayout, opusFrameDecoder, type LiveFrameDecoder, type LivePlayoutStats } from './live-playout.js';
import type { PcmOutput } from './pcm-output.js';
import type { FrameTaker, LiveFrames, PlayOutcome, PreparedPlay } from './sink-contract.js';

/** Frames kept before the play starts (an alert or another announcement plays): 10 s; older ones are dropped, they could not sound anyway. */
const MAX_BUFFERED = 500;

export class LiveFeed implements LiveFrames {
  private readonly buffered = new Map<number, Buffer>();
  private playout: FrameTaker | null = null;
  private lastIndex: number | null = null;

  constructor(
    readonly sessionId: string,
    /** Server time at which frame 0 sounds. */
    readonly anchorMs: number,
  ) {}

  /** Whether a play took the feed (its frames go to the output now). */
  get attached(): boolean {
    return this.playout !== null;
  }

  /** Frames of a verified group. */
  accept(firstIndex: number, frames: readonly Buffer[]): void {
    if (this.playout) return this.playout.accept(firstIndex, frames);
    frames.forEach((frame, i) => this.buffered.set(firstIndex + i, frame));
    if (this.buffered.size > MAX_BUFFERED) {
      const oldest = [...this.buffered.keys()].sort((a, b) => a - b).slice(0, this.buffered.size - MAX_BUFFERED);
      for (const index of oldest) this.buffered.delete(index);
    }
  }

  /** The session ends after frame `lastIndex`. */
  end(lastIndex: number): void {
    this.lastIndex = lastIndex;
    this.playout?.end(lastIndex);
  }

  /** How the play went so far (null before it started). */
  stats(): LivePlayoutStats | null {
    return this.playout?.stats() ?? null;
  }

  /** Hands the waiting frames (and the end, if known) to the play's playout. */
  attach(playout: FrameTaker): void {
    this.playout = playout;
    for (const [index, frame] of this.buffered) playout.accept(index, [frame]);
    this.buffered.clear();
    if (this.lastIndex !== null) playout.end(this.lastIndex);
  }
}

/**
 * The feed's play on an output stage already running. `serverNow`: the agent's server time;
 * the handle's `startsAtMs` is the first frame's instant in it.
 */
export function prepareLive(feed: LiveFrames, output: PcmOutput, serverNow: () => number, decoder: () => LiveFrameDecoder = opusFrameDecoder): PreparedPlay {
  return {
    cancel: () => void output.abort(),
    start: () => {
      const playout = new LivePlayout({ anchorMs: feed.anchorMs, serverNow, output, decoder: decoder() });
      feed.attach(playout);
      playout.start();
      const first = playout.stats().firstIndex;
      const done = playout.done.then((o): PlayOutcome => {
        if (o.error && !o.stopped) throw agentError('LOA_ERR_PLAYBACK', o.error);
        return { playedMs: o.playedMs, stopped: o.stopped };
      });
      return { done, stop: () => playout.stop(), ...(first >= 0 ? { startsAtMs: playout.instantOf(first) } : {}) };
    },
  };
}

/** This host's wall clock (epoch ms) at server instant `serverMs`, for the WAV sink's `.start` file. */
export function hostInstantOf(serverMs: number, serverNow: () => number): number {
  return performance.timeOrigin + performance.now() + (serverMs - serverNow());
}
