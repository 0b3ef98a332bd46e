/** Live announcements (issue 18): a prepared session, its record, its speakers, and what its feed socket says. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Instant, Nullable, StringEnum } from './common.js';

const LIVE_PRIORITIES = ['priority', 'emergency'] as const;
const SPEAKER_STATES = ['joining', 'playing', 'lost', 'ended', 'refused'] as const;

export const LiveSessionSchema = Type.Object({
  id: Id,
  areaIds: Type.Array(Type.String()),
  priority: StringEnum(LIVE_PRIORITIES),
  title: Nullable(Type.String()),
  volume: Nullable(Type.Integer()),
  createdBy: Nullable(Type.String()),
  createdByName: Nullable(Type.String({ description: 'who spoke (their username), while the account exists' })),
  createdAt: Instant,
  nodeId: Nullable(Type.String({ description: 'the server node its source feeds' })),
  startedAt: Nullable(Instant),
  endedAt: Nullable(Instant),
  endReason: Nullable(Type.String({ description: 'ended (asked), idle (the source went quiet), too-long, source-gone (its connection closed)' })),
  frames: Nullable(Type.Record(Type.String(), Type.Integer(), { description: 'the node\'s counts: placed, dropped, gapFrames, stalls, groups, refused, lastIndex' })),
  contentId: Nullable(Type.String({ description: 'its recording in the library, once stored (the session\'s id)' })),
  recordingError: Nullable(Type.String()),
});
export type LiveSession = Static<typeof LiveSessionSchema>;

export const LivePreparedSchema = Type.Object({
  session: LiveSessionSchema,
  ticket: Type.String({ description: 'shown once: the source presents it to feed the session (GET /live/{id}/feed?ticket=…, a WebSocket), within a minute, once' }),
  ticketExpiresAt: Instant,
  speakers: Type.Integer({ description: 'speakers (enabled devices) in the target areas' }),
  feedPath: Type.String({ description: 'the WebSocket path to feed it' }),
});
export type LivePrepared = Static<typeof LivePreparedSchema>;

/** The node's view of a running session. */
export const LiveRunningSchema = Type.Object({
  id: Id,
  areaIds: Type.Array(Type.String()),
  priority: StringEnum(LIVE_PRIORITIES),
  title: Nullable(Type.String()),
  createdBy: Nullable(Type.String()),
  startedAt: Instant,
  endedAt: Nullable(Instant),
  endReason: Nullable(Type.String()),
  anchorMs: Nullable(Type.Integer({ description: 'server time at which frame 0 sounds' })),
  lastIndex: Type.Integer(),
  frames: Type.Object({
    placed: Type.Integer({ description: 'frames placed on the timeline' }),
    dropped: Type.Integer({ description: 'dropped: late past their turn, or to take out a fast source\'s drift' }),
    gapFrames: Type.Integer({ description: 'frames left out (speakers conceal them): a slow source\'s drift' }),
    stalls: Type.Integer({ description: 'times the source stalled and the timeline moved on' }),
    groups: Type.Integer({ description: 'signed groups sent' }),
    refused: Type.Integer({ description: 'frames refused (bad index or packet)' }),
  }),
});
export type LiveRunning = Static<typeof LiveRunningSchema>;

export const LiveSpeakerSchema = Type.Object({
  deviceId: Type.String(),
  state: StringEnum(SPEAKER_STATES),
  at: Instant,
  reason: Type.Optional(Type.String()),
  playedMs: Type.Optional(Type.Integer()),
  lateFrames: Type.Optional(Type.Integer()),
});
export type LiveSpeaker = Static<typeof LiveSpeakerSchema>;

export const LiveOutcomeSchema = Type.Object({
  deviceId: Type.String(),
  plays: Type.Integer({ description: 'its plays of the session (more than one if it lost the session and joined again)' }),
  playedMs: Type.Integer({ description: 'how long it actually played it, summed' }),
  statuses: Type.Array(Type.String()),
  reasons: Type.Array(Type.String()),
  firstStartedAt: Nullable(Instant),
});

export const LiveDetailSchema = Type.Object({
  session: LiveSessionSchema,
  running: Nullable(LiveRunningSchema),
  speakers: Type.Array(LiveSpeakerSchema),
  outcomes: Type.Array(LiveOutcomeSchema),
});
export type LiveDetail = Static<typeof LiveDetailSchema>;

/**
 * What the feed socket sends its source, as JSON text: the session once open and every second
 * after, each speaker's state as it changes, its end, and errors.
 */
export type LiveFeedEvent =
  | { type: 'open' | 'state' | 'ended'; session: LiveRunning }
  | { type: 'speaker'; speaker: LiveSpeaker }
  | { type: 'error'; error: { code: string; message: string; messageVi: string } };
