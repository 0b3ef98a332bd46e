/**
 * Live announcements on the wire (issue 18, decision 0025).
 *
 * The node announces a session to an area's speakers with a signed `live` downlink (JSON, like an
 * alert): which session, its priority, and its timeline (frame n plays at `anchorMs + n ×
 * frameMs`, server time). The audio follows on the area's `live` topic as frame groups, in a
 * compact binary form, each group signed once with the node's Ed25519 downlink key:
 *
 *   "LLF1" | u8 kid length | kid (ASCII) | u8 session id length | session id (ASCII)
 *   | u32 first frame index | u8 frame count | count × (u16 length | Opus packet) | 64-byte signature
 *
 * (integers big-endian). The signature covers LIVE_SIGNING_PREFIX and every byte before it, so a
 * group cannot be moved to another session or index, and signed bytes of another kind (a JSON
 * envelope) can never pass for a group.
 */
import { Type, type Static } from '@sinclair/typebox';

/** The frame duration every session uses (Opus' 20 ms frame). */
export const LIVE_FRAME_MS = 20;
/** Frames per MQTT message: one signature per 60 ms (decision 0025). */
export const LIVE_FRAMES_PER_GROUP = 3;
/** The most frames a group may hold (a node may send fewer, never more). */
export const MAX_LIVE_GROUP_FRAMES = 10;
/** Opus' largest packet (RFC 6716, 3.2.1). */
export const MAX_OPUS_PACKET = 1275;
const MAGIC = Buffer.from('LLF1', 'ascii');
const SIGNATURE_BYTES = 64;
/** What a group's signature covers, before its own bytes. */
export const LIVE_SIGNING_PREFIX = Buffer.from('loalang live frames/1\0', 'ascii');
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** A session starting or going on: sent when it starts, every few seconds while it lasts, and to a speaker that (re)joins. */
export const LiveOn = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('live'),
    sessionId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    /** The area this announcement was sent to (the topic's). */
    areaId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    priority: Type.Union([Type.Literal('priority'), Type.Literal('emergency')]),
    /** Server time (ms) at which frame 0 plays; frame n plays `n × frameMs` later. */
    anchorMs: Type.Integer({ minimum: 0 }),
    frameMs: Type.Literal(LIVE_FRAME_MS),
    codec: Type.Literal('opus'),
    sampleRate: Type.Literal(48000),
    channels: Type.Literal(1),
    /** Volume 0–100 for the speakers, or the speaker's own. */
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    title: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type LiveOn = Static<typeof LiveOn>;

/** A session ended: frames after `lastIndex` are not played. */
export const LiveOff = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('live-end'),
    sessionId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    areaId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    /** The last frame of the session (-1: none was sent). */
    lastIndex: Type.Integer({ minimum: -1 }),
  },
  { additionalProperties: false },
);
export type LiveOff = Static<typeof LiveOff>;

export const LiveMessage = Type.Union([LiveOn, LiveOff]);
export type LiveMessage = Static<typeof LiveMessage>;

/**
 * Where a speaker is with a session, as it goes (device → server on `dev/<id>/live/status`, QoS
 * 0: the console shows it live; what counts for the record is the play report at the end).
 *  - `joining`: announced, waiting for its first frame's turn (or for an alert or another
 *    announcement to end);
 *  - `playing`: its frames sound;
 *  - `lost`: nothing heard of the session for a while (the link is down): it stopped;
 *  - `ended`: its last frame sounded, or it was stopped (`reason`);
 *  - `refused`: it will not play it (`reason`: quiet hours, an alert plays, a bad signature…).
 */
export const LiveSpeakerState = Type.Union([Type.Literal('joining'), Type.Literal('playing'), Type.Literal('lost'), Type.Literal('ended'), Type.Literal('refused')]);
export type LiveSpeakerState = Static<typeof LiveSpeakerState>;

export const LiveStatus = Type.Object(
  {
    v: Type.Literal(1),
    sessionId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    state: LiveSpeakerState,
    at: Type.String({ format: 'date-time' }),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
    /** Audio played so far of this session, ms. */
    playedMs: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Frames that came after their turn so far (the link's lateness). */
    lateFrames: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type LiveStatus = Static<typeof LiveStatus>;

/**
 * The play id of a speaker's play of a session, in its play report: `live-<session>`, and
 * `live-<session>-j<n>` for its n-th (n ≥ 2) join, after it lost the session and found it again.
 * The report's scheduleId and contentId are the session id (its recording keeps that id).
 */
export function livePlayId(sessionId: string, join = 1): string {
  return join <= 1 ? `live-${sessionId}` : `live-${sessionId}-j${join}`;
}

/** The session a live play id names, or null when it is not one. */
export function liveSessionOfPlayId(playId: string): string | null {
  const m = /^live-(.+?)(?:-j(\d+))?$/.exec(playId);
  return m ? m[1]! : null;
}

export interface LiveFrameGroup {
  /** The id of the key that signed it (the downlink key's `kid`). */
  kid: string;
  sessionId: string;
  /** The index of its first frame on the session's timeline. */
  firstIndex: number;
  /** Opus packets, one per 20 ms frame; an empty one is a frame the node left out (concealed by speakers). */
  frames: Buffer[];
}

/** The bytes of a group up to its signature, and what a signature is made over. */
function body(group: LiveFrameGroup): Buffer {
  if (!TOKEN.test(group.kid) || !TOKEN.test(group.sessionId)) throw new RangeError('live frame group: kid and session id are 1–64 letters, digits, _ or -');
  if (!Number.isInteger(group.firstIndex) || group.firstIndex < 0 || group.firstIndex > 0xffffffff) throw new RangeError('live frame group: bad first index');
  if (group.frames.length < 1 || group.frames.length > MAX_LIVE_GROUP_FRAMES) throw new RangeError(`live frame group: 1 to ${MAX_LIVE_GROUP_FRAMES} frames`);
  const parts: Buffer[] = [MAGIC, Buffer.from([group.kid.length]), Buffer.from(group.kid, 'ascii'), Buffer.from([group.sessionId.length]), Buffer.from(group.sessionId, 'ascii')];
  const head = Buffer.alloc(5);
  head.writeUInt32BE(group.firstIndex, 0);
  head.writeUInt8(group.frames.length, 4);
  parts.push(head);
  for (const frame of group.frames) {
    if (frame.length > MAX_OPUS_PACKET) throw new RangeError(`live frame group: an Opus packet is at most ${MAX_OPUS_PACKET} bytes`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(frame.length, 0);
    parts.push(len, frame);
  }
  return Buffer.concat(parts);
}

/** A group's bytes on the wire; `sign` signs the bytes it is given (Ed25519, 64 bytes). */
export function encodeFrameGroup(group: LiveFrameGroup, sign: (data: Buffer) => Buffer): Buffer {
  const unsigned = body(group);
  const signature = sign(Buffer.concat([LIVE_SIGNING_PREFIX, unsigned]));
  if (signature.length !== SIGNATURE_BYTES) throw new RangeError('live frame group: an Ed25519 signature is 64 bytes');
  return Buffer.concat([unsigned, signature]);
}

export interface ParsedFrameGroup extends LiveFrameGroup {
  /** What the signature must be valid for. */
  signed: Buffer;
  signature: Buffer;
}

/** Reads a group (never throws); says nothing about trust: check `signed` against `signature`. */
export function parseFrameGroup(payload: Buffer): { ok: true; value: ParsedFrameGroup } | { ok: false; reason: string } {
  const fail = (reason: string) => ({ ok: false as const, reason });
  if (payload.length < MAGIC.length + 2 + 5 + SIGNATURE_BYTES || !payload.subarray(0, 4).equals(MAGIC)) return fail('not a live frame group');
  let at = 4;
  const token = (): string | null => {
    const len = payload[at];
    if (len === undefined || at + 1 + len > payload.length - SIGNATURE_BYTES) return null;
    const text = payload.toString('ascii', at + 1, at + 1 + len);
    at += 1 + len;
    return TOKEN.test(text) ? text : null;
  };
  const kid = token();
  const sessionId = kid === null ? null : token();
  if (kid === null || sessionId === null) return fail('bad key id or session id');
  const end = payload.length - SIGNATURE_BYTES;
  if (at + 5 > end) return fail('truncated');
  const firstIndex = payload.readUInt32BE(at);
  const count = payload.readUInt8(at + 4);
  at += 5;
  if (count < 1 || count > MAX_LIVE_GROUP_FRAMES) return fail(`frame count ${count} out of 1–${MAX_LIVE_GROUP_FRAMES}`);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return fail('truncated');
    const len = payload.readUInt16BE(at);
    at += 2;
    if (len > MAX_OPUS_PACKET || at + len > end) return fail('bad frame length');
    frames.push(payload.subarray(at, at + len));
    at += len;
  }
  if (at !== end) return fail('trailing bytes');
  return { ok: true, value: { kid, sessionId, firstIndex, frames, signed: Buffer.concat([LIVE_SIGNING_PREFIX, payload.subarray(0, end)]), signature: payload.subarray(end) } };
}
