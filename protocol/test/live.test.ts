import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { bytesSignatureValid, EnvelopeSigner, newSigningKey } from '../src/signing.js';
import { encodeFrameGroup, LiveMessage, MAX_OPUS_PACKET, parseFrameGroup, type LiveFrameGroup } from '../src/live.js';
import { validate } from '../src/validate.js';
import { areaTopic } from '../src/topics.js';

const key = newSigningKey();
const signer = new EnvelopeSigner(key.privateKeyPem);
const group = (over: Partial<LiveFrameGroup> = {}): LiveFrameGroup => ({ kid: signer.kid, sessionId: 'phien-1', firstIndex: 4_242, frames: [randomBytes(60), randomBytes(0), randomBytes(MAX_OPUS_PACKET)], ...over });
const valid = (payload: Buffer) => {
  const parsed = parseFrameGroup(payload);
  return parsed.ok && bytesSignatureValid(parsed.value.signed, parsed.value.signature, key.publicKey);
};

describe('live frame groups', () => {
  it("carry their session, index and Opus packets, signed once by the node's key", () => {
    const g = group();
    const wire = encodeFrameGroup(g, (data) => signer.signBytes(data));
    const parsed = parseFrameGroup(wire);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect({ kid: parsed.value.kid, sessionId: parsed.value.sessionId, firstIndex: parsed.value.firstIndex, frames: parsed.value.frames }).toEqual(g);
    expect(valid(wire)).toBe(true);
    // 3 frames of 60 bytes: the header, lengths and signature add 64 + 4 + 2 + 12 + 1 + 7 + 1 + 5 + 6 bytes.
    const small = encodeFrameGroup(group({ frames: [randomBytes(60), randomBytes(60), randomBytes(60)] }), (d) => signer.signBytes(d));
    expect(small.length).toBe(180 + 64 + 4 + 1 + signer.kid.length + 1 + 'phien-1'.length + 5 + 6);
  });

  it('are refused when a byte changed, when moved to another session or index, or signed by another key', () => {
    const wire = encodeFrameGroup(group(), (data) => signer.signBytes(data));
    for (const at of [5, 20, 30, wire.length - 100, wire.length - 1]) {
      const changed = Buffer.from(wire);
      changed[at]! ^= 0x01;
      expect(valid(changed), `byte ${at}`).toBe(false);
    }
    const other = new EnvelopeSigner(newSigningKey().privateKeyPem);
    expect(valid(encodeFrameGroup(group(), (data) => other.signBytes(data)))).toBe(false);
    // The signature of one group does not fit another session's or index's bytes.
    const sig = wire.subarray(wire.length - 64);
    for (const moved of [group({ sessionId: 'phien-2' }), group({ firstIndex: 4_243 })]) expect(valid(encodeFrameGroup(moved, () => sig))).toBe(false);
  });

  it('never throw on bytes that are not a group, and say what is wrong', () => {
    const wire = encodeFrameGroup(group(), (data) => signer.signBytes(data));
    for (let len = 0; len < wire.length; len += 7) expect(parseFrameGroup(wire.subarray(0, len)).ok).toBe(false);
    for (let i = 0; i < 2_000; i++) {
      const junk = randomBytes(Math.floor(Math.random() * 400));
      if (i % 2) junk.write('LLF1', 0, 'ascii');
      expect(() => parseFrameGroup(junk)).not.toThrow();
    }
    expect(parseFrameGroup(Buffer.from('{"v":1}'))).toEqual({ ok: false, reason: 'not a live frame group' });
    const trailing = Buffer.concat([wire.subarray(0, wire.length - 64), Buffer.from([0]), wire.subarray(wire.length - 64)]);
    expect(parseFrameGroup(trailing)).toEqual({ ok: false, reason: 'trailing bytes' });
  });

  it('refuse to encode what a speaker would refuse', () => {
    const sign = (d: Buffer) => signer.signBytes(d);
    expect(() => encodeFrameGroup(group({ frames: [] }), sign)).toThrow(/1 to 10 frames/);
    expect(() => encodeFrameGroup(group({ frames: [randomBytes(MAX_OPUS_PACKET + 1)] }), sign)).toThrow(/at most 1275 bytes/);
    expect(() => encodeFrameGroup(group({ sessionId: 'có dấu' }), sign)).toThrow(/session id/);
    expect(() => encodeFrameGroup(group({ firstIndex: -1 }), sign)).toThrow(/first index/);
  });
});

describe('the live control message', () => {
  it("states a session's timeline, or its end", () => {
    const on = { v: 1, type: 'live', sessionId: 'phien-1', areaId: 'xa-1', priority: 'priority', anchorMs: 1_795_445_779_703, frameMs: 20, codec: 'opus', sampleRate: 48000, channels: 1, title: 'Họp dân lúc 19 giờ' };
    expect(validate(LiveMessage, on).ok).toBe(true);
    expect(validate(LiveMessage, { v: 1, type: 'live-end', sessionId: 'phien-1', areaId: 'xa-1', lastIndex: 1_499 }).ok).toBe(true);
    expect(validate(LiveMessage, { ...on, frameMs: 40 }).ok).toBe(false);
    expect(validate(LiveMessage, { ...on, priority: 'normal' }).ok).toBe(false);
    expect(areaTopic('xa-1', 'live')).toBe('loalang/v1/area/xa-1/live');
  });
});
