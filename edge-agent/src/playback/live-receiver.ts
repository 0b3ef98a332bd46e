/**
 * Live announcements on the speaker (issue 18, decision 0025). A session starts for this box
 * when a signed `live` announcement for one of its areas arrives (the session guard checked it
 * like any downlink); from then on the session's frame groups are taken only if signed by a key
 * the box trusts, for that session. The session becomes a play handed to the timeline, which
 * decides when it sounds (it cuts normal plays, waits for an alert) and reports it like any
 * other. A session not heard from for `lostAfterMs` (the link is down, its end was missed) is
 * stopped and reported; if it comes back, the speaker joins it again at its live point.
 *
 * Each step goes to the server as a `live/status` (joining, playing, lost, ended, refused), for
 * the console to show as it happens; the play report remains the record.
 */
import { bytesSignatureValid, livePlayId, liveSessionOfPlayId, parseFrameGroup, type Clock, type DesiredPlay, type LiveMessage, type LiveOn, type LiveSpeakerState, type LiveStatus, type Logger, type PlayReport, type Repeating, type ServerKey, every } from '@loalang/protocol';
import type { Refusal } from '../link/mqtt-session.js';
import { LiveFeed } from './live-source.js';
import type { Timeline } from './timeline.js';

export interface LiveReceiverDeps {
  timeline: Pick<Timeline, 'addLive' | 'remove'>;
  trustedKeys: () => ServerKey[];
  /** Server time as this box measures it. */
  clock: Clock;
  logger: Logger;
  send: (status: LiveStatus) => Promise<void>;
  /** A frame group this box would not take (bad signature, unknown key, unreadable). */
  refuse: (r: Refusal) => void;
  /** True while a session is on: the link is retried sooner when it drops. */
  setUrgent: (urgent: boolean) => void;
  /**
   * True when a session is joined, false when none is left: while on, the clock is measured
   * more often, so this speaker's instants come nearer its neighbours' and stay there through a
   * long announcement; the playout follows the better estimate.
   */
  followClock?: (on: boolean) => void;
  /** Silence of a session (no announcement, no frame) after which it is stopped as lost. */
  lostAfterMs?: number;
}

/** The server announces a session every 2 s: missing seven of them in a row is a lost link. */
export const LIVE_LOST_AFTER_MS = 15_000;
/** Ended sessions remembered, so a late copy of their announcement does not start them again. */
const KEEP_ENDED = 200;
const DUMMY_SHA = '0'.repeat(64);

interface Joined {
  on: LiveOn;
  feed: LiveFeed;
  playId: string;
  join: number;
  heardAt: number;
  state: LiveSpeakerState;
  reason?: string;
}

export class LiveReceiver {
  private readonly sessions = new Map<string, Joined>();
  private readonly ended = new Set<string>();
  /** How often this box joined each session it lost (its next play id counts on). */
  private readonly joins = new Map<string, number>();
  private watch: Repeating | null = null;

  constructor(private readonly d: LiveReceiverDeps) {}

  start(): void {
    this.watch = every(this.d.clock, 1000, () => this.checkLost());
  }

  stop(): void {
    this.watch?.stop();
    this.watch = null;
  }

  onMessage(m: LiveMessage): void {
    if (m.type === 'live-end') return this.onEnd(m.sessionId, m.lastIndex);
    if (this.ended.has(m.sessionId)) return;
    const known = this.sessions.get(m.sessionId);
    if (known) {
      known.heardAt = this.d.clock.now();
      return;
    }
    const join = (this.joins.get(m.sessionId) ?? 0) + 1;
    const joined: Joined = { on: m, feed: new LiveFeed(m.sessionId, m.anchorMs), playId: livePlayId(m.sessionId, join), join, heardAt: this.d.clock.now(), state: 'joining' };
    this.sessions.set(m.sessionId, joined);
    this.d.setUrgent(true);
    this.d.followClock?.(true);
    this.d.logger.info({ sessionId: m.sessionId, priority: m.priority, join }, 'live announcement joined');
    this.d.timeline.addLive(this.playOf(joined), joined.feed);
    this.tell(m.sessionId, joined);
  }

  /** A frame group from an area topic: taken only for a session this box holds, signed by a key it trusts. */
  onAudio(areaId: string, payload: Buffer): void {
    const parsed = parseFrameGroup(payload);
    if (!parsed.ok) return this.d.refuse({ kind: 'live/audio', reason: 'invalid', detail: `area ${areaId}: ${parsed.reason}` });
    const group = parsed.value;
    const joined = this.sessions.get(group.sessionId);
    if (!joined) return; // a session not (or no longer) announced to this box: nothing to play it with
    const key = this.d.trustedKeys().find((k) => k.kid === group.kid);
    if (!key) return this.d.refuse({ kind: 'live/audio', reason: 'unknown-key', detail: `signed by key ${group.kid}, which this device does not trust`, kid: group.kid });
    if (!bytesSignatureValid(group.signed, group.signature, key.publicKey)) return this.d.refuse({ kind: 'live/audio', reason: 'bad-signature', detail: `session ${group.sessionId}: the frames do not match their signature`, kid: group.kid });
    joined.heardAt = this.d.clock.now();
    joined.feed.accept(group.firstIndex, group.frames);
  }

  /** The player started a play: a live one now sounds. */
  onStarted(play: DesiredPlay): void {
    const joined = this.sessions.get(play.scheduleId);
    if (!joined || joined.playId !== play.playId) return;
    joined.state = 'playing';
    this.tell(play.scheduleId, joined);
  }

  /** A play's report: a live play that ended ends its session here (or, lost, lets it be joined again). */
  onReport(r: PlayReport): void {
    const sessionId = liveSessionOfPlayId(r.playId);
    const joined = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!sessionId || !joined || joined.playId !== r.playId) return;
    this.sessions.delete(sessionId);
    if (r.reason === 'live-lost') {
      this.joins.set(sessionId, joined.join);
      joined.state = 'lost';
    } else {
      this.remember(sessionId);
      joined.state = r.status === 'skipped' && r.reason !== 'live-ended' ? 'refused' : 'ended';
    }
    if (r.reason) joined.reason = r.reason;
    this.tell(sessionId, joined, r.playedMs);
    if (this.sessions.size === 0) {
      this.d.setUrgent(false);
      this.d.followClock?.(false);
    }
  }

  /** Says again where this box is with each session (after a reconnect). */
  resendStates(): void {
    for (const [sessionId, joined] of this.sessions) this.tell(sessionId, joined);
  }

  private onEnd(sessionId: string, lastIndex: number): void {
    const joined = this.sessions.get(sessionId);
    this.remember(sessionId);
    if (!joined) return;
    // Playing: its last frames still sound, then the play ends. Waiting: it never will.
    if (joined.feed.attached) joined.feed.end(lastIndex);
    else this.d.timeline.remove(sessionId, 'live-ended');
  }

  private checkLost(): void {
    const now = this.d.clock.now();
    const lostAfter = this.d.lostAfterMs ?? LIVE_LOST_AFTER_MS;
    for (const [sessionId, joined] of this.sessions) {
      if (now - joined.heardAt < lostAfter) continue;
      this.d.logger.warn({ sessionId, silentMs: now - joined.heardAt }, 'live announcement lost: nothing heard of it');
      this.d.timeline.remove(sessionId, 'live-lost');
    }
  }

  private playOf(j: Joined): DesiredPlay {
    const m = j.on;
    return {
      playId: j.playId,
      scheduleId: m.sessionId,
      // The session's recording keeps its id: the report names it as the play's content.
      contentId: m.sessionId,
      sha256: DUMMY_SHA,
      url: '',
      durationMs: 0,
      startAt: new Date(m.anchorMs).toISOString(),
      priority: m.priority,
      ...(m.title ? { title: m.title } : {}),
      ...(m.volume !== undefined ? { volume: m.volume } : {}),
    };
  }

  private tell(sessionId: string, j: Joined, playedMs?: number): void {
    const stats = j.feed.stats();
    const status: LiveStatus = {
      v: 1,
      sessionId,
      state: j.state,
      at: new Date(this.d.clock.now()).toISOString(),
      ...(j.reason ? { reason: j.reason.slice(0, 200) } : {}),
      ...(playedMs !== undefined ? { playedMs } : {}),
      ...(stats ? { lateFrames: stats.late } : {}),
    };
    this.d.send(status).catch(() => undefined);
  }

  private remember(sessionId: string): void {
    this.ended.add(sessionId);
    this.joins.delete(sessionId);
    if (this.ended.size > KEEP_ENDED) this.ended.delete(this.ended.values().next().value!);
  }
}
