/**
 * What the player asks of an audio sink, apart from any sink (issue 15: the contract lived in
 * the ffmpeg sink's file, which its own parts imported back). FfmpegSink implements it; tests
 * give their own.
 */
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
}

/** A cached file, or a live stream relayed until `untilMs` (epoch ms, server time as the sink reads it). */
export type PlaySource = { file: string } | { streamUrl: string; untilMs: number };

/** A play whose processes are already running; `start()` at the instant releases the audio. */
export interface PreparedPlay {
  start(): PlayHandle;
  /** The play will not happen (preempted before its instant): processes are ended. */
  cancel(): void;
}

export interface AudioSink {
  prepare(source: PlaySource, opts: PlayOptions): PreparedPlay;
}
