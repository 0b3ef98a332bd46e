/**
 * What the player asks of an audio sink, apart from any sink (issue 15: the contract lived in
 * the ffmpeg sink's file, which its own parts imported back). FfmpegSink implements it; tests
 * give their own.
 */
import type { LivePlayout } from './live-playout.js';

export interface PlayOptions {
  playId: string;
  /** 0–100; see volumeToGain. */
  volume: number;
}

export interface PlayOutcome {
  playedMs: number;
  stopped: boolean;
  /** Relays only: how often the stream dropped before the window closed, and why last. */
  drops?: number;
  lastError?: string;
}

export interface PlayHandle {
  /** Resolves when the audio ended or was stopped, with how much audio went out. */
  done: Promise<PlayOutcome>;
  stop(): void;
  /** When its first sample sounds, in the sink's time (server time), if the source decides it (a live session's timeline). */
  startsAtMs?: number;
}

/**
 * A cached file, a live stream relayed until `untilMs` (epoch ms, server time as the sink reads
 * it), or a live announcement's frames (live-source.ts).
 */
export type PlaySource = { file: string } | { streamUrl: string; untilMs: number } | { live: LiveFrames };

/** What takes a live session's frames once its play runs: the playout (a test's recorder). */
export type FrameTaker = Pick<LivePlayout, 'accept' | 'end' | 'stats'>;

/** A live session's frames as a sink plays them (live-source.ts's LiveFeed). */
export interface LiveFrames {
  /** Server time at which the session's frame 0 sounds. */
  readonly anchorMs: number;
  /** Hands the frames (those waiting, and those to come) to the play's playout. */
  attach(taker: FrameTaker): void;
}

/** A play whose processes are already running; `start()` releases the audio. */
export interface PreparedPlay {
  /**
   * Releases the audio now, or `inMs` from now: a cached file's first sample is then due that
   * long after this call, on the output's sample clock (a sound card is handed that much
   * silence first), so the start does not depend on when the event loop runs next (decision
   * 0009). A relay ignores `inMs`: it is started at its instant.
   */
  start(inMs?: number): PlayHandle;
  /** The play will not happen (preempted before its instant): processes are ended. */
  cancel(): void;
}

export interface AudioSink {
  prepare(source: PlaySource, opts: PlayOptions): PreparedPlay;
}
