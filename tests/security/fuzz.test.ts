/**
 * Property-based fuzzing (fast-check) of what reads untrusted bytes: every MQTT message
 * validator, and the amplifier board's frame parser. Nothing may throw; only valid input passes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson, EnvelopeSigner, MessageSchemas, newSigningKey, parseMessage, type MessageKind } from '@loalang/protocol';
import { DownlinkGuard } from '@loalang/edge-agent';
import { encodeFrame, FrameParser, START, type Frame } from '@loalang/firmware-bridge';

const kinds = Object.keys(MessageSchemas) as MessageKind[];

describe('MQTT message validators', () => {
  it('answer any JSON value with ok or a reason, never a throw', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.jsonValue({ maxDepth: 4 }), (kind, value) => {
        const r = parseMessage(kind, JSON.stringify(value));
        return r.ok || (typeof r.reason === 'string' && r.reason.length > 0);
      }),
      { numRuns: 3000 },
    );
  });

  it('answer any bytes, valid UTF-8 or not, never with a throw', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.uint8Array({ maxLength: 4096 }), (kind, bytes) => {
        const r = parseMessage(kind, Buffer.from(bytes));
        return r.ok || typeof r.reason === 'string';
      }),
      { numRuns: 3000 },
    );
  });

  it('refuse a valid message with any one field dropped, retyped or given an unknown version', () => {
    const cancel = { v: 1, type: 'cancel', alertId: 'a1', at: '2026-11-23T05:00:00.000Z' };
    const status = { v: 1, alertId: 'a1', state: 'received', at: '2026-11-23T05:00:00.000Z' };
    expect(parseMessage('alert', JSON.stringify(cancel)).ok).toBe(true);
    expect(parseMessage('alert/status', JSON.stringify(status)).ok).toBe(true);
    fc.assert(
      fc.property(fc.constantFrom<[MessageKind, Record<string, unknown>]>(['alert', cancel], ['alert/status', status]), fc.nat(), fc.oneof(fc.constant(undefined), fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 2 })), ([kind, good], pick, replacement) => {
        const keys = Object.keys(good);
        const key = keys[pick % keys.length]!;
        const bad = { ...good, [key]: replacement };
        if (replacement === undefined) delete bad[key];
        // Some replacements are no change at all (v: 1 for v: 1) or happen to be valid (a two-letter id):
        // only check those that are not.
        const unchanged = replacement === good[key];
        const stillValid = unchanged || (key === 'alertId' && typeof replacement === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(replacement));
        return stillValid || !parseMessage(kind, JSON.stringify(bad)).ok;
      }),
      { numRuns: 1000 },
    );
  });

  it('signed downlinks: the agent check answers any bytes and any JSON with a refusal, never a throw', () => {
    const key = newSigningKey();
    const guard = new DownlinkGuard({ state: { trustedKeys: () => [key], seen: () => [], saveSeen: () => undefined }, serverNow: () => Date.now(), clockKnown: () => true });
    const signer = new EnvelopeSigner(key.privateKeyPem);
    const good = JSON.parse(signer.seal({ kind: 'cmd', to: 'dev/d1', iat: Date.now(), exp: Date.now() + 60_000, seq: 1, body: { v: 1 } }).toString()) as Record<string, unknown>;
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)), fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))), fc.tuple(fc.constantFrom(...Object.keys(good)), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => Buffer.from(JSON.stringify({ ...good, [k]: v })))), (payload) => {
        const r = guard.check('cmd', 'dev/d1', payload);
        // Only the untouched envelope (a field "changed" to its own value) may pass.
        return !r.ok || canonicalJson(JSON.parse(payload.toString())) === canonicalJson(good);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse a payload over 1 MiB before parsing it', () => {
    const r = parseMessage('telemetry', Buffer.alloc(1024 * 1024 + 1, 0x20));
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('too large') });
  });
});

describe('amplifier frame parser', () => {
  const frame = fc.record({ seq: fc.integer({ min: 0, max: 255 }), cmd: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) });
  /** Line noise that never contains the start byte (noise with it could by chance be a valid frame). */
  const noise = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.filter((b) => b !== START)));

  it('never throws on any bytes in any chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const parser = new FrameParser(() => undefined);
        for (const c of chunks) parser.push(Buffer.from(c));
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('finds every frame, in order, between bursts of noise and across any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, frame), { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }), (items, cuts) => {
        const stream = Buffer.concat(items.flatMap(([n, f]) => [n, encodeFrame(f)]));
        const got: Frame[] = [];
        const parser = new FrameParser((f) => got.push(f));
        for (let at = 0, i = 0; at < stream.length; i++) {
          const size = cuts[i % cuts.length]!;
          parser.push(stream.subarray(at, at + size));
          at += size;
        }
        expect(got.map((f) => [f.seq, f.cmd, f.payload.toString('hex')])).toEqual(items.map(([, f]) => [f.seq, f.cmd, f.payload.toString('hex')]));
      }),
      { numRuns: 1000 },
    );
  });

  it('drops a frame with any single bit flipped', () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.integer({ min: 0, max: 7 }), (f, at, bit) => {
        const bytes = encodeFrame(f);
        const i = 1 + (at % (bytes.length - 1)); // not the start byte
        bytes[i]! ^= 1 << bit;
        const got: Frame[] = [];
        new FrameParser((x) => got.push(x)).push(bytes);
        return got.length === 0;
      }),
      { numRuns: 2000 },
    );
  });
});
