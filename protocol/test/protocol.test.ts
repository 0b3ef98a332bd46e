import { describe, expect, it } from 'vitest';
import {
  deviceTopic,
  parseDeviceTopic,
  parseMessage,
  encodeMessage,
  uplinkFilter,
  areaTopicFilter,
  MAX_PAYLOAD_BYTES,
  overlapsQuietHours,
  canonicalJson,
  EnvelopeSigner,
  newSigningKey,
  parseEnvelope,
  publicKeyOf,
  signatureValid,
  deliveryAfterReport,
  type PlayReport,
} from '@loalang/protocol';

const report: PlayReport = {
  v: 1,
  reportId: 'r-1',
  playId: 'p-1',
  scheduleId: 's-1',
  contentId: 'c-1',
  status: 'completed',
  scheduledAt: '2026-11-22T06:00:00.000Z',
  startedAt: '2026-11-22T06:00:00.003Z',
  endedAt: '2026-11-22T06:01:00.000Z',
  playedMs: 59997,
};

describe('topics', () => {
  it('builds and parses device topics', () => {
    const t = deviceTopic('dev-1', 'cmd/result');
    expect(t).toBe('loalang/v1/dev/dev-1/cmd/result');
    expect(parseDeviceTopic(t)).toEqual({ deviceId: 'dev-1', kind: 'cmd/result' });
    expect(uplinkFilter('report')).toBe('loalang/v1/dev/+/report');
    expect(areaTopicFilter('a1')).toBe('loalang/v1/area/a1/#');
  });

  it('refuses ids that would escape a topic level', () => {
    expect(() => deviceTopic('a/b', 'status')).toThrow(RangeError);
    expect(() => deviceTopic('#', 'status')).toThrow(RangeError);
    expect(() => deviceTopic('+', 'status')).toThrow(RangeError);
    expect(parseDeviceTopic('loalang/v1/dev/+/status')).toBeNull();
    expect(parseDeviceTopic('loalang/v2/dev/a/status')).toBeNull();
    expect(parseDeviceTopic('loalang/v1/dev/a')).toBeNull();
  });
});

describe('message validation', () => {
  it('round-trips a valid report', () => {
    const parsed = parseMessage('report', encodeMessage('report', report));
    expect(parsed).toEqual({ ok: true, value: report });
  });

  it('explains what is wrong instead of throwing', () => {
    expect(parseMessage('report', Buffer.from('{not json'))).toEqual({ ok: false, reason: 'payload is not valid JSON' });
    const wrongStatus = parseMessage('report', JSON.stringify({ ...report, status: 'played' }));
    expect(wrongStatus.ok).toBe(false);
    const badTime = parseMessage('report', JSON.stringify({ ...report, startedAt: 'yesterday' }));
    expect(badTime).toMatchObject({ ok: false, reason: expect.stringContaining('/startedAt') });
    const missing = parseMessage('report', JSON.stringify({ v: 1 }));
    expect(missing.ok).toBe(false);
    const wrongVersion = parseMessage('report', JSON.stringify({ ...report, v: 2 }));
    expect(wrongVersion).toMatchObject({ ok: false, reason: expect.stringContaining('/v') });
  });

  it('refuses oversize payloads before parsing', () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20);
    expect(parseMessage('status', big)).toMatchObject({ ok: false, reason: expect.stringContaining('too large') });
  });

  it('validates desired state plays', () => {
    const desired = {
      v: 1,
      deviceId: 'd1',
      version: 3,
      issuedAt: '2026-11-22T05:00:00Z',
      horizonUntil: '2026-11-24T05:00:00Z',
      plays: [
        {
          playId: 'p1',
          scheduleId: 's1',
          contentId: 'c1',
          sha256: 'a'.repeat(64),
          url: 'http://127.0.0.1:8080/api/v1/content/c1/file',
          durationMs: 1000,
          startAt: '2026-11-22T06:00:00Z',
          priority: 'normal',
        },
      ],
    };
    expect(parseMessage('desired', JSON.stringify(desired)).ok).toBe(true);
    desired.plays[0]!.sha256 = 'XYZ';
    expect(parseMessage('desired', JSON.stringify(desired)).ok).toBe(false);
  });
});

describe('quiet hours', () => {
  const qh = { from: '21:30', to: '05:30' };
  const vn = 'Asia/Ho_Chi_Minh';
  const at = (local: string) => Date.parse(`${local}+07:00`);
  it('catches plays inside a window across midnight, and plays that run into it', () => {
    expect(overlapsQuietHours(at('2026-11-22T04:30:00'), 60_000, qh, vn)).toBe(true);
    expect(overlapsQuietHours(at('2026-11-22T22:00:00'), 60_000, qh, vn)).toBe(true);
    expect(overlapsQuietHours(at('2026-11-22T05:30:00'), 60_000, qh, vn)).toBe(false);
    expect(overlapsQuietHours(at('2026-11-22T21:00:00'), 20 * 60_000, qh, vn)).toBe(false);
    expect(overlapsQuietHours(at('2026-11-22T21:20:00'), 20 * 60_000, qh, vn)).toBe(true); // runs into 21:30
    expect(overlapsQuietHours(at('2026-11-22T12:00:00'), 60_000, { from: '11:00', to: '13:00' }, vn)).toBe(true); // a noon window
    expect(overlapsQuietHours(at('2026-11-22T12:00:00'), 60_000, { from: '06:00', to: '06:00' }, vn)).toBe(false); // empty window
  });
});

describe('signed envelopes (decision 0016)', () => {
  it('canonical JSON sorts keys by UTF-16 code units and writes numbers the ECMAScript way (RFC 8785)', () => {
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\ud83d\ude00', '\u0080', '\u00f6'];
    // The order RFC 8785 section 3.2.3 gives for these keys.
    const rfcOrder = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'];
    const expected = `{${rfcOrder.map((k) => `${JSON.stringify(k)}:${keys.indexOf(k)}`).join(',')}}`;
    expect(canonicalJson(Object.fromEntries(keys.map((k, i) => [k, i])))).toBe(expected);
    expect(canonicalJson({ b: [1e21, 0.1, -0, 'x', null, true], a: { z: undefined, y: 'é' } })).toBe('{"a":{"y":"é"},"b":[1e+21,0.1,0,"x",null,true]}');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/finite/);
  });

  it('a signature covers every header field and the body; any change breaks it', () => {
    const key = newSigningKey();
    expect(publicKeyOf(key.privateKeyPem)).toEqual({ kid: key.kid, publicKey: key.publicKey });
    const sealed = new EnvelopeSigner(key.privateKeyPem).seal({ kind: 'cmd', to: 'dev/d1', iat: 1, exp: 2, seq: 3, body: { v: 1, x: [1, 2] } });
    const env = parseEnvelope(sealed);
    if (!env.ok) throw new Error(env.reason);
    expect(signatureValid(env.value, key.publicKey)).toBe(true);
    // Key order on the wire does not matter: the signature is over the canonical form.
    const reordered = Object.fromEntries(Object.entries(env.value).reverse()) as typeof env.value;
    expect(signatureValid(reordered, key.publicKey)).toBe(true);
    for (const change of [{ kind: 'desired' }, { to: 'dev/d2' }, { iat: 0 }, { exp: 3 }, { seq: 4 }, { body: { v: 1, x: [2, 1] } }]) {
      expect(signatureValid({ ...env.value, ...change }, key.publicKey)).toBe(false);
    }
    expect(signatureValid(env.value, newSigningKey().publicKey)).toBe(false);
  });
});

describe('deliveryAfterReport: one reading of an alert repetition\'s report, for agent and server', () => {
  const r = (playId: string, status: PlayReport['status'], reason?: string) => ({ playId, status, ...(reason ? { reason } : {}) });
  it.each([
    [r('a-r1', 'completed'), 3, { state: 'started', played: 1 }],
    [r('a-r3', 'completed'), 3, { state: 'finished', played: 3 }],
    [r('a-r1', 'interrupted', 'cancelled'), 3, { state: 'cancelled' }],
    [r('a-r1', 'interrupted', 'expired'), 3, { state: 'expired' }],
    [r('a-r1', 'interrupted', 'preempted-by:alert:b'), 3, { state: 'interrupted' }],
    [r('a-r1', 'failed', 'content-missing'), 3, { state: 'failed' }],
    [r('a-r2', 'skipped', 'late'), 3, { state: 'failed' }],
  ] as const)('%o of %i repetitions → %o', (report, repeat, expected) => {
    expect(deliveryAfterReport(report, repeat)).toEqual(expected);
  });
});
