/**
 * The desired state never exceeds what a speaker accepts (issue 14): the server's budget, filled
 * to the last play with the largest plays the schema allows, is signed as the server signs it and
 * taken by the agent's downlink guard and schema; one play more and it would not fit the budget.
 */
import { describe, expect, it } from 'vitest';
import { fitToBudget } from '@loalang/broker';
import { DownlinkGuard } from '@loalang/edge-agent';
import { EnvelopeSigner, MAX_DESIRED_PLAYS, MAX_DESIRED_PLAYS_BYTES, MAX_PAYLOAD_BYTES, MessageSchemas, newSigningKey, validate, type DesiredPlay, type DesiredState } from '@loalang/protocol';

const T0 = Date.parse('2026-11-28T00:00:00Z');
/** A play as large as the schema lets it be: 2 KiB URLs, a 200-character Vietnamese title. */
const bigPlay = (scheduleId: string, i: number): DesiredPlay => ({
  playId: `${scheduleId}_${i}_${1_800_000_000 + i}`,
  scheduleId,
  contentId: 'c'.repeat(36),
  sha256: 'a'.repeat(64),
  url: `https://loa.example.vn/${'x'.repeat(2000)}/${i}`,
  durationMs: 3_600_000,
  startAt: new Date(T0 + i * 1000).toISOString(),
  priority: 'normal',
  volume: 100,
  title: 'Bản tin khẩn cấp của Ủy ban nhân dân xã về phòng chống lụt bão '.repeat(4).slice(0, 200),
});

describe('desired state at the limit', () => {
  it('a runaway schedule is cut to the budget, the other schedules stay whole, and the agent takes the result', () => {
    const runaway = Array.from({ length: 2000 }, (_, i) => bigPlay('runaway', i));
    const bulletin = [0, 1, 2].map((i) => ({ ...bigPlay('bulletin', 5000 + i), title: 'Bản tin chiều' }));
    const alert = { ...bigPlay('emergency-relay', 9000), priority: 'emergency' as const };
    const { plays, cut } = fitToBudget([...runaway, ...bulletin, alert].sort((a, b) => a.startAt.localeCompare(b.startAt)));
    expect(cut).toEqual([{ scheduleId: 'runaway', kept: plays.length - 4, dropped: 2000 - (plays.length - 4) }]);
    expect(plays.filter((p) => p.scheduleId === 'bulletin')).toHaveLength(3);
    expect(plays.filter((p) => p.scheduleId === 'emergency-relay')).toHaveLength(1);
    // The runaway keeps its earliest plays, in time order.
    expect(plays.filter((p) => p.scheduleId === 'runaway').map((p) => p.playId)).toEqual(runaway.slice(0, plays.length - 4).map((p) => p.playId));
    const bytes = Buffer.byteLength(JSON.stringify(plays));
    expect(bytes).toBeLessThanOrEqual(MAX_DESIRED_PLAYS_BYTES);
    // Full: one more of the runaway's plays would not have fitted.
    expect(bytes + Buffer.byteLength(JSON.stringify(runaway[plays.length - 4]!)) + 1).toBeGreaterThan(MAX_DESIRED_PLAYS_BYTES);

    // Signed as the server signs it, with four keys (the most a state carries), and checked as the agent checks it.
    const key = newSigningKey();
    const serverKeys = Array.from({ length: 4 }, () => ({ kid: key.kid, publicKey: key.publicKey }));
    const state: DesiredState = { v: 1, deviceId: 'd'.repeat(36), version: 2 ** 31, issuedAt: new Date(T0).toISOString(), horizonUntil: new Date(T0 + 48 * 3600_000).toISOString(), plays, areaIds: Array.from({ length: 64 }, (_, i) => `area-${i}`.padEnd(36, '0')), serverKeys };
    const sealed = new EnvelopeSigner(key.privateKeyPem).seal({ kind: 'desired', to: `dev/${state.deviceId}`, iat: T0, exp: T0 + 60_000, seq: 1, body: state });
    expect(sealed.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    const guard = new DownlinkGuard({ state: { trustedKeys: () => serverKeys, seen: () => [], saveSeen: () => undefined }, serverNow: () => T0, clockKnown: () => true });
    const checked = guard.check('desired', `dev/${state.deviceId}`, sealed);
    expect(checked.ok, checked.ok ? '' : `${checked.reason}: ${checked.detail}`).toBe(true);
    expect(validate(MessageSchemas.desired, checked.ok ? checked.body : null).ok).toBe(true);
  });

  it('never more plays than the count allows, however small they are', () => {
    const tiny = Array.from({ length: 110 }, (_, i): DesiredPlay => ({ playId: String(i), scheduleId: 's', contentId: 'c', sha256: 'a'.repeat(64), url: 'u', durationMs: 1000, startAt: new Date(T0 + i * 1000).toISOString(), priority: 'normal' }));
    const { plays, cut } = fitToBudget(tiny, { maxPlays: 100, maxBytes: MAX_DESIRED_PLAYS_BYTES });
    expect(plays).toHaveLength(100);
    expect(cut).toEqual([{ scheduleId: 's', kept: 100, dropped: 10 }]);
    // The schema's own limit is never the binding one: that many of the smallest plays already pass the byte budget.
    expect(Buffer.byteLength(JSON.stringify(Array.from({ length: MAX_DESIRED_PLAYS }, () => tiny[0])))).toBeGreaterThan(MAX_DESIRED_PLAYS_BYTES);
  });

  it('leaves a state that fits as it is', () => {
    const plays = [bigPlay('a', 1), bigPlay('b', 2)];
    expect(fitToBudget(plays)).toEqual({ plays, cut: [] });
  });
});
