/**
 * Live announcements on the node (issue 18, decision 0025): a session is opened for some areas
 * with a priority; its source feeds Opus frames (the WebSocket feed, `loalang live`); each frame
 * is placed on the session's timeline (timeline.ts), gathered into groups of three, signed once
 * and published once per target area at QoS 0, as alerts are. The session is announced to its
 * areas (a signed `live` message naming its timeline) when it opens and every few seconds while
 * it lasts, so a speaker that joins or comes back finds it within that time; its end is
 * announced too.
 *
 * Who may open a session for which areas is decided by the caller (the route, with the caller's
 * role and scope); this service keeps sessions, their timelines and their fan-out.
 */
import { EventEmitter } from 'node:events';
import { encodeFrameGroup, LIVE_FRAME_MS, LIVE_FRAMES_PER_GROUP, MAX_OPUS_PACKET, newId, type Clock, type ClockTimer, type LiveMessage, type LiveOn, type Logger } from '@loalang/protocol';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import { DEFAULT_PLAYOUT_DELAY_MS, LiveTimeline, type TimelineCounts } from './timeline.js';
import type { LiveRecorder, LiveRecording } from './recorder.js';

export interface LivePublisher {
  /** A signed `live` message to an area's speakers. */
  publishToArea(areaId: string, kind: 'live', payload: LiveMessage): Promise<void>;
  /** A signed frame group to an area's speakers. */
  publishLiveAudio(areaId: string, group: Buffer): Promise<void>;
}

export interface LiveSigner {
  readonly kid: string;
  signBytes(data: Buffer): Buffer;
}

export interface LiveOptions {
  /** From a frame's arrival at the node to its instant on the speakers (decision 0025's budget). */
  playoutDelayMs: number;
  /** How often a session is announced again while it lasts. */
  announceEveryMs: number;
  /** A session whose source sent nothing this long is ended (the operator's browser closed, the studio line dropped). */
  idleEndMs: number;
  /** The longest a session may last. */
  maxDurationMs: number;
}

export const DEFAULT_LIVE_OPTIONS: LiveOptions = { playoutDelayMs: DEFAULT_PLAYOUT_DELAY_MS, announceEveryMs: 2000, idleEndMs: 15_000, maxDurationMs: 2 * 3600_000 };

export interface NewLiveSession {
  /** The prepared session's id (its record's); a new one if absent. */
  id?: string;
  areaIds: string[];
  priority: 'priority' | 'emergency';
  title?: string;
  volume?: number;
  createdBy: string | null;
}

export interface LiveSessionView {
  id: string;
  areaIds: string[];
  priority: 'priority' | 'emergency';
  title: string | null;
  createdBy: string | null;
  startedAt: string;
  endedAt: string | null;
  /** Why it ended: `ended` (asked), `idle` (the source went quiet), `too-long`. */
  endReason: string | null;
  /** Server time of frame 0's instant (null before the first frame). */
  anchorMs: number | null;
  /** The last frame placed on the timeline (-1: none). */
  lastIndex: number;
  frames: TimelineCounts & { groups: number; refused: number };
}

interface Session {
  view: LiveSessionView;
  timeline: LiveTimeline;
  /** The group being gathered: its first index and frames by offset (a gap the timeline left is an empty packet). */
  group: { first: number; frames: (Buffer | undefined)[]; timer: ClockTimer | null } | null;
  announcer: ClockTimer | null;
  /** When it was opened, and when its source last sent anything (the clock's ms). */
  openedAt: number;
  lastFeedAt: number;
  volume: number | undefined;
  recording: LiveRecording | null;
}

/**
 * `session`: opened, or ended; `ended`: also, with its recording's outcome to come (null: no
 * recorder).
 */
type LiveEvents = { session: [LiveSessionView]; ended: [LiveSessionView, Promise<{ path: string } | { error: string }> | null] };

export class LiveService extends EventEmitter<LiveEvents> {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly d: { publisher: LivePublisher; signer: LiveSigner; clock: Clock; logger: Logger; recorder?: LiveRecorder },
    private readonly o: LiveOptions = DEFAULT_LIVE_OPTIONS,
  ) {
    super();
  }

  open(input: NewLiveSession): LiveSessionView {
    if (input.areaIds.length === 0) throw brokerError('LOA_ERR_INVALID', { en: 'a live announcement needs at least one area', vi: 'phát trực tiếp cần ít nhất một địa bàn' });
    const now = this.d.clock.now();
    if (input.id && this.sessions.has(input.id)) throw brokerError('LOA_ERR_CONFLICT', { en: `live announcement ${input.id} is already on`, vi: `buổi phát trực tiếp ${input.id} đang diễn ra` });
    const view: LiveSessionView = {
      id: input.id ?? newId(),
      areaIds: [...new Set(input.areaIds)],
      priority: input.priority,
      title: input.title ?? null,
      createdBy: input.createdBy,
      startedAt: iso(now),
      endedAt: null,
      endReason: null,
      anchorMs: null,
      lastIndex: -1,
      frames: { placed: 0, dropped: 0, gapFrames: 0, stalls: 0, groups: 0, refused: 0 },
    };
    const session: Session = { view, timeline: new LiveTimeline(this.o.playoutDelayMs), group: null, announcer: null, openedAt: now, lastFeedAt: now, volume: input.volume, recording: this.d.recorder?.(view.id) ?? null };
    this.sessions.set(view.id, session);
    this.armAnnouncer(session);
    this.d.logger.info({ sessionId: view.id, areas: view.areaIds, priority: view.priority }, 'live announcement opened');
    this.emit('session', { ...view });
    return { ...view };
  }

  /** The source's frame `sourceIndex` (its own count from 0, one per 20 ms): placed, grouped and sent. */
  feed(sessionId: string, sourceIndex: number, packet: Buffer): void {
    const session = this.require(sessionId);
    const now = this.d.clock.now();
    session.lastFeedAt = now;
    if (!Number.isInteger(sourceIndex) || sourceIndex < 0 || packet.length === 0 || packet.length > MAX_OPUS_PACKET) {
      session.view.frames.refused++;
      return;
    }
    if (now - session.openedAt > this.o.maxDurationMs) return void this.close(session, 'too-long');
    const first = session.view.anchorMs === null;
    const index = session.timeline.place(sourceIndex, now);
    session.view.anchorMs = session.timeline.anchorMs;
    if (first) this.announce(session);
    if (index === null) return;
    // A group holds up to three consecutive indices from its first frame's; one sent early (its
    // timer) is never sent again: the next frame starts a new group, so no frame goes twice.
    if (session.group && index >= session.group.first + LIVE_FRAMES_PER_GROUP) this.flush(session);
    if (!session.group) {
      const timer = this.d.clock.setTimeout(() => this.flush(session), LIVE_FRAMES_PER_GROUP * LIVE_FRAME_MS);
      session.group = { first: index, frames: [], timer };
    }
    session.group.frames[index - session.group.first] = packet;
    session.view.lastIndex = index;
    session.recording?.frame(index, packet);
    if (index - session.group.first === LIVE_FRAMES_PER_GROUP - 1) this.flush(session);
  }

  /** Ends a session: what was gathered goes out, then its end is announced. `reason`: `ended` (asked), `source-gone`. */
  end(sessionId: string, reason = 'ended'): LiveSessionView {
    const session = this.require(sessionId);
    this.close(session, reason);
    return { ...session.view };
  }

  get(sessionId: string): LiveSessionView | null {
    const session = this.sessions.get(sessionId);
    return session ? { ...session.view } : null;
  }

  active(): LiveSessionView[] {
    return [...this.sessions.values()].map((s) => ({ ...s.view }));
  }

  /** Ends every session (the node stops). */
  stopAll(): void {
    for (const session of [...this.sessions.values()]) this.close(session, 'ended');
  }

  private require(sessionId: string): Session {
    const session = this.sessions.get(sessionId);
    if (!session) throw brokerError('LOA_ERR_NOT_FOUND', { en: `live announcement ${sessionId}`, vi: `buổi phát trực tiếp ${sessionId}` });
    return session;
  }

  private flush(session: Session): void {
    const group = session.group;
    if (!group) return;
    session.group = null;
    if (group.timer) this.d.clock.clearTimeout(group.timer);
    const count = group.frames.length;
    if (count === 0) return;
    // A frame the timeline left out inside the group goes as an empty packet: speakers conceal it.
    const frames = Array.from({ length: count }, (_, i) => group.frames[i] ?? Buffer.alloc(0));
    const payload = encodeFrameGroup({ kid: this.d.signer.kid, sessionId: session.view.id, firstIndex: group.first, frames }, (data) => this.d.signer.signBytes(data));
    session.view.frames.groups++;
    for (const areaId of session.view.areaIds) {
      this.d.publisher.publishLiveAudio(areaId, payload).catch((err: unknown) => this.d.logger.warn({ err, sessionId: session.view.id, areaId }, 'live audio not published'));
    }
  }

  /** The session's announcement to one area (null before its first frame set the timeline). */
  private announcementFor(session: Session, areaId: string): LiveOn | null {
    const v = session.view;
    if (v.anchorMs === null) return null;
    return {
      v: 1,
      type: 'live',
      sessionId: v.id,
      areaId,
      priority: v.priority,
      anchorMs: v.anchorMs,
      frameMs: LIVE_FRAME_MS,
      codec: 'opus',
      sampleRate: 48000,
      channels: 1,
      ...(session.volume !== undefined ? { volume: session.volume } : {}),
      ...(v.title ? { title: v.title.slice(0, 200) } : {}),
    };
  }

  private announce(session: Session): void {
    for (const areaId of session.view.areaIds) {
      const message = this.announcementFor(session, areaId);
      if (!message) return;
      this.d.publisher.publishToArea(areaId, 'live', message).catch((err: unknown) => this.d.logger.warn({ err, sessionId: session.view.id, areaId }, 'live announcement not published'));
    }
  }

  private armAnnouncer(session: Session): void {
    session.announcer = this.d.clock.setTimeout(() => {
      if (!this.sessions.has(session.view.id)) return;
      if (this.d.clock.now() - session.lastFeedAt >= this.o.idleEndMs) return void this.close(session, 'idle');
      this.announce(session);
      this.armAnnouncer(session);
    }, this.o.announceEveryMs);
  }

  private close(session: Session, reason: string): void {
    if (!this.sessions.delete(session.view.id)) return;
    this.flush(session);
    if (session.announcer) this.d.clock.clearTimeout(session.announcer);
    const v = session.view;
    v.endedAt = iso(this.d.clock.now());
    v.endReason = reason;
    v.frames = { ...v.frames, ...session.timeline.counters() };
    for (const areaId of v.areaIds) {
      this.d.publisher.publishToArea(areaId, 'live', { v: 1, type: 'live-end', sessionId: v.id, areaId, lastIndex: v.lastIndex }).catch((err: unknown) => this.d.logger.warn({ err, sessionId: v.id, areaId }, 'live end not published'));
    }
    this.d.logger.info({ sessionId: v.id, reason, frames: v.frames }, 'live announcement ended');
    this.emit('session', { ...v });
    this.emit('ended', { ...v }, session.recording?.finish() ?? null);
  }
}
