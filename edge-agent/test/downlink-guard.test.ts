/** The agent's downlink check on its own: each way a message is refused, holding, and the replay window. */
import { describe, expect, it } from 'vitest';
import { EnvelopeSigner, newSigningKey, type ServerKey } from '@loalang/protocol';
import { CLOCK_TOLERANCE_MS, DownlinkGuard, type GuardResult, type Seen } from '../src/link/downlink-guard.js';
import { testSigner } from './peers.js';

const T0 = Date.parse('2026-11-23T05:00:00Z');

function world(opts: { clockKnown?: boolean; keys?: ServerKey[] } = {}) {
  const signer = testSigner();
  let now = T0;
  let saved: Seen[] = [];
  const guard = new DownlinkGuard({
    state: { trustedKeys: () => opts.keys ?? signer.serverKeys, seen: () => saved, saveSeen: (s) => (saved = s) },
    serverNow: () => now,
    clockKnown: () => opts.clockKnown ?? true,
  });
  const cmd = { v: 1, commandId: 'c1', type: 'volume', issuedAt: new Date(T0).toISOString(), params: { volume: 40 } };
  return {
    signer,
    guard,
    cmd,
    saved: () => saved,
    advance: (ms: number) => (now += ms),
    seal: (over: Parameters<typeof signer.seal>[3] = {}, body: unknown = cmd) => signer.seal('d1', 'cmd', body, { iat: T0, exp: T0 + 300_000, ...over }),
  };
}

const reason = (r: GuardResult) => (r.ok ? 'ok' : r.reason);
/** The guard saves what it took once per turn of the event loop. */
const saved = async (w: { saved: () => Seen[] }) => {
  await new Promise((r) => setImmediate(r));
  return w.saved();
};

describe('downlink guard', () => {
  it('takes a fresh message signed by a trusted key for this device, once', async () => {
    const w = world();
    const msg = w.seal({ seq: 10 });
    const first = w.guard.check('cmd', 'dev/d1', msg);
    expect(first).toMatchObject({ ok: true, body: w.cmd });
    expect(await saved(w)).toEqual([[10, T0 + 300_000]]);
    expect(reason(w.guard.check('cmd', 'dev/d1', msg))).toBe('replayed');
  });

  it('refuses unsigned, garbage, a changed body, a changed header and a stranger key', async () => {
    const w = world();
    expect(reason(w.guard.check('cmd', 'dev/d1', Buffer.from(JSON.stringify(w.cmd))))).toBe('unsigned');
    expect(reason(w.guard.check('cmd', 'dev/d1', Buffer.from('not json')))).toBe('invalid');
    const env = JSON.parse(w.seal({ seq: 1 }).toString()) as { body: { params: { volume: number } }; exp: number };
    env.body.params.volume = 100;
    expect(reason(w.guard.check('cmd', 'dev/d1', Buffer.from(JSON.stringify(env))))).toBe('bad-signature');
    const env2 = JSON.parse(w.seal({ seq: 2 }).toString()) as { exp: number };
    env2.exp += 3600_000; // stretching its life
    expect(reason(w.guard.check('cmd', 'dev/d1', Buffer.from(JSON.stringify(env2))))).toBe('bad-signature');
    const stranger = new EnvelopeSigner(newSigningKey().privateKeyPem).seal({ kind: 'cmd', to: 'dev/d1', iat: T0, exp: T0 + 60_000, seq: 3, body: w.cmd });
    expect(reason(w.guard.check('cmd', 'dev/d1', stranger))).toBe('unknown-key');
    // Same kid, another key's signature: a forged kid does not help.
    const forged = JSON.parse(stranger.toString()) as { kid: string };
    forged.kid = w.signer.serverKeys[0]!.kid;
    expect(reason(w.guard.check('cmd', 'dev/d1', Buffer.from(JSON.stringify(forged))))).toBe('bad-signature');
    expect(await saved(w)).toEqual([]); // nothing refused counts as seen
  });

  it('refuses a message signed for another device, another area or as another kind', () => {
    const w = world();
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 1, to: 'dev/d2' })))).toBe('wrong-recipient');
    expect(reason(w.guard.check('alert', 'area/a1', w.signer.seal('d1', 'alert', {}, { to: 'area/a2', iat: T0, seq: 2 })))).toBe('wrong-recipient');
    expect(reason(w.guard.check('desired', 'dev/d1', w.seal({ seq: 3 })))).toBe('wrong-recipient');
  });

  it('refuses expired and future messages by measured server time, with the tolerance', () => {
    const w = world();
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 1, exp: T0 - CLOCK_TOLERANCE_MS + 1 })))).toBe('ok');
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 2, exp: T0 - CLOCK_TOLERANCE_MS - 1 })))).toBe('expired');
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 3, iat: T0 + CLOCK_TOLERANCE_MS + 1, exp: T0 + 600_000 })))).toBe('not-yet-valid');
    w.advance(300_000 + CLOCK_TOLERANCE_MS + 1);
    const late = w.guard.check('cmd', 'dev/d1', w.seal({ seq: 4 }));
    expect(late).toMatchObject({ ok: false, reason: 'expired', hold: false, seq: 4 });
  });

  it('holds a message that fails only on time while the clock is unmeasured, and not a time reply', () => {
    const w = world({ clockKnown: false });
    const stale = w.seal({ seq: 1, exp: T0 - 3600_000, iat: T0 - 3900_000 });
    expect(w.guard.check('cmd', 'dev/d1', stale)).toMatchObject({ ok: false, reason: 'expired', hold: true });
    expect(w.guard.check('cmd', 'dev/d1', stale, false)).toMatchObject({ ok: false, reason: 'expired', hold: false });
    // Time replies measure the clock, so their instants are not judged by it.
    const reply = w.signer.seal('d1', 'time/reply', { v: 1, t0: 1, t1: 2, t2: 3 }, { iat: T0 - 3600_000, exp: T0 - 3300_000, seq: 2 });
    expect(reason(w.guard.check('time/reply', 'dev/d1', reply))).toBe('ok');
  });

  it('takes messages in any order (held ones arrive late), each once, and forgets them only once expired', async () => {
    const w = world();
    for (const seq of [100, 103, 101, 99]) expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq })))).toBe('ok');
    for (const seq of [101, 99]) expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq })))).toBe('replayed');
    expect(await saved(w)).toHaveLength(4);
    // Past expiry they are forgotten, and a replay is refused as expired instead.
    w.advance(300_000 + CLOCK_TOLERANCE_MS + 1);
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 100 })))).toBe('expired');
    expect(reason(w.guard.check('cmd', 'dev/d1', w.seal({ seq: 500, iat: T0 + 300_000, exp: T0 + 600_000 })))).toBe('ok');
    expect((await saved(w)).map(([seq]) => seq)).toEqual([500]);
  });

  it('remembers what it took across a restart (the saved window)', async () => {
    const w = world();
    const msg = w.seal({ seq: 5 });
    expect(reason(w.guard.check('cmd', 'dev/d1', msg))).toBe('ok');
    await saved(w);
    const again = new DownlinkGuard({ state: { trustedKeys: () => w.signer.serverKeys, seen: () => w.saved(), saveSeen: () => undefined }, serverNow: () => T0, clockKnown: () => true });
    expect(reason(again.check('cmd', 'dev/d1', msg))).toBe('replayed');
  });
});
