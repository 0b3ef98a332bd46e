/**
 * The node's side of a live announcement (issue 18): frames placed on the session's timeline,
 * sent in signed groups of three to every target area, the session announced and its end too.
 * On the manual clock, with the protocol's own signer and a publisher that keeps what it is given.
 */
import { describe, expect, it } from 'vitest';
import { bytesSignatureValid, EnvelopeSigner, ManualClock, newSigningKey, parseFrameGroup, silentLogger, type LiveMessage } from '@loalang/protocol';
import { LiveService, type LivePublisher } from '../src/live/service.js';

function world() {
  const key = newSigningKey();
  const signer = new EnvelopeSigner(key.privateKeyPem);
  const clock = new ManualClock(Date.parse('2026-11-29T07:00:00Z'));
  const sent = { messages: [] as { areaId: string; message: LiveMessage }[], groups: [] as { areaId: string; payload: Buffer }[] };
  const publisher: LivePublisher = {
    publishToArea: async (areaId, _kind, message) => void sent.messages.push({ areaId, message }),
    publishLiveAudio: async (areaId, payload) => void sent.groups.push({ areaId, payload }),
  };
  const live = new LiveService({ publisher, signer, clock, logger: silentLogger }, { playoutDelayMs: 900, announceEveryMs: 2000, idleEndMs: 5000, maxDurationMs: 3600_000 });
  const groupsOf = (areaId: string) =>
    sent.groups.filter((g) => g.areaId === areaId).map((g) => {
      const parsed = parseFrameGroup(g.payload);
      if (!parsed.ok) throw new Error(parsed.reason);
      expect(bytesSignatureValid(parsed.value.signed, parsed.value.signature, key.publicKey)).toBe(true);
      return parsed.value;
    });
  return { clock, sent, live, groupsOf, signer };
}

const packet = (i: number) => Buffer.from(`opus-frame-${i}`);

describe('a live announcement on the node', () => {
  it('announces its timeline, sends signed groups of three to each area, and announces its end', async () => {
    const { clock, sent, live, groupsOf, signer } = world();
    const session = live.open({ areaIds: ['xa-1', 'xa-2'], priority: 'priority', title: 'Họp dân', createdBy: 'u1' });
    expect(sent.messages).toHaveLength(0); // nothing to say before the first frame sets the timeline
    const t0 = clock.now();
    for (let i = 0; i < 9; i++) {
      live.feed(session.id, i, packet(i));
      clock.advance(20);
    }
    const on = sent.messages.filter((m) => m.message.type === 'live');
    expect(on.map((m) => m.areaId)).toEqual(['xa-1', 'xa-2']);
    expect(on[0]!.message).toMatchObject({ type: 'live', sessionId: session.id, priority: 'priority', anchorMs: t0 + 900, frameMs: 20, title: 'Họp dân' });
    for (const area of ['xa-1', 'xa-2']) {
      const groups = groupsOf(area);
      expect(groups.map((g) => [g.firstIndex, g.frames.map(String)])).toEqual([0, 3, 6].map((f) => [f, [f, f + 1, f + 2].map((i) => `opus-frame-${i}`)]));
      expect(groups.every((g) => g.kid === signer.kid && g.sessionId === session.id)).toBe(true);
    }
    // Announced again while it lasts (the source keeps talking).
    for (let i = 9; i < 108; i++) {
      live.feed(session.id, i, packet(i));
      clock.advance(20);
    }
    expect(sent.messages.filter((m) => m.message.type === 'live')).toHaveLength(4);
    // A frame lost upstream: its place in the group goes empty; the end sends what was gathered.
    live.feed(session.id, 108, packet(108));
    live.feed(session.id, 110, packet(110));
    live.feed(session.id, 111, packet(111));
    const ended = live.end(session.id);
    expect(ended).toMatchObject({ endReason: 'ended', lastIndex: 111, frames: { placed: 111, gapFrames: 1, dropped: 0, stalls: 0, groups: 38 } });
    const last = groupsOf('xa-1').slice(-2);
    expect(last.map((g) => [g.firstIndex, g.frames.map(String)])).toEqual([
      [108, ['opus-frame-108', '', 'opus-frame-110']],
      [111, ['opus-frame-111']],
    ]);
    expect(sent.messages.filter((m) => m.message.type === 'live-end').map((m) => m.message)).toEqual([
      { v: 1, type: 'live-end', sessionId: session.id, areaId: 'xa-1', lastIndex: 111 },
      { v: 1, type: 'live-end', sessionId: session.id, areaId: 'xa-2', lastIndex: 111 },
    ]);
    expect(live.active()).toEqual([]);
    expect(() => live.feed(session.id, 112, packet(112))).toThrow(/live announcement/);
  });

  it('sends a group that does not fill within 60 ms, ends a session whose source went quiet, and refuses what is not a frame', async () => {
    const { clock, sent, live, groupsOf } = world();
    const session = live.open({ areaIds: ['xa-1'], priority: 'emergency', createdBy: null });
    live.feed(session.id, 0, packet(0));
    live.feed(session.id, 1, packet(1));
    clock.advance(60);
    expect(groupsOf('xa-1').map((g) => g.frames.length)).toEqual([2]);
    live.feed(session.id, 2, Buffer.alloc(0));
    live.feed(session.id, -1, packet(0));
    live.feed(session.id, 3, Buffer.alloc(1276));
    expect(live.get(session.id)?.frames.refused).toBe(3);
    clock.advance(6000);
    expect(live.get(session.id)).toBeNull();
    expect(sent.messages.at(-1)?.message).toMatchObject({ type: 'live-end', lastIndex: 1 });
    expect(() => live.open({ areaIds: [], priority: 'priority', createdBy: null })).toThrow(/at least one area/);
  });

  it('sends no frame twice when a bursty source leaves a group to its timer (a file read in chunks, a busy browser)', async () => {
    const { clock, live, groupsOf } = world();
    const session = live.open({ areaIds: ['xa-1'], priority: 'priority', createdBy: null });
    // Bursts of four frames every 80 ms: the fourth waits alone until its group's timer sends it.
    for (let burst = 0; burst < 5; burst++) {
      for (let k = 0; k < 4; k++) live.feed(session.id, burst * 4 + k, packet(burst * 4 + k));
      clock.advance(80);
    }
    const sentIndices = groupsOf('xa-1').flatMap((g) => g.frames.map((f, i) => (f.length ? g.firstIndex + i : -1)));
    expect(sentIndices).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(groupsOf('xa-1').every((g) => g.frames.every((f) => f.length > 0))).toBe(true);
  });
});
