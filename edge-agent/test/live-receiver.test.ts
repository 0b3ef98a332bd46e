/**
 * Live announcements on the speaker with the real timeline, player and receiver, on a manual
 * clock: a session joins, plays its signed frames and ends; forged frames are refused; it cuts a
 * normal play but never an alert; quiet hours; a lost session is stopped and joined again.
 * tests/live.e2e.test.ts plays real Opus through real agents.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrameGroup, EnvelopeSigner, ManualClock, newSigningKey, silentLogger, type DesiredPlay, type DesiredState, type LiveOn, type LiveStatus, type PlayReport } from '@loalang/protocol';
import { FakeAmplifier } from '@loalang/test-kit';
import type { AudioSink, PlayHandle, PlayOptions, PlaySource, PreparedPlay } from '../src/playback/audio-sink.js';
import type { ContentCache } from '../src/storage/content-cache.js';
import type { Refusal } from '../src/link/mqtt-session.js';
import { LiveReceiver, LIVE_LOST_AFTER_MS } from '../src/playback/live-receiver.js';
import { Player } from '../src/playback/player.js';
import { Timeline } from '../src/playback/timeline.js';
import { testSigner } from './peers.js';

const T0 = Date.parse('2026-03-01T03:00:00Z'); // 10:00 in Hà Nội
const iso = (ms: number) => new Date(ms).toISOString();

function world() {
  const clock = new ManualClock(T0);
  const signer = testSigner();
  const server = new EnvelopeSigner(signer.privateKeyPem);
  /** Frames each live play took, by play id; programme plays sound for their length. */
  const heard = new Map<string, number[]>();
  const lengths = new Map<string, number>();
  const starts: string[] = [];
  const sink: AudioSink = {
    prepare: (source: PlaySource, o: PlayOptions): PreparedPlay => ({
      cancel: () => undefined,
      start: (): PlayHandle => {
        starts.push(o.playId);
        const began = clock.now();
        let stop = () => {};
        if ('live' in source) {
          const frames: number[] = [];
          heard.set(o.playId, frames);
          const done = new Promise<{ playedMs: number; stopped: boolean }>((resolve) => {
            let last = Infinity;
            source.live.attach({
              accept: (first, fs) => fs.forEach((_, i) => first + i <= last && frames.push(first + i)),
              end: (lastIndex) => {
                last = lastIndex;
                resolve({ playedMs: frames.filter((i) => i <= lastIndex).length * 20, stopped: false });
              },
              stats: () => ({ firstIndex: frames[0] ?? -1, decoded: frames.length, concealed: 0, silent: 0, late: 0, skipped: 0, broken: 0 }),
            });
            stop = () => resolve({ playedMs: frames.length * 20, stopped: true });
          });
          return { done, stop: () => stop(), startsAtMs: began };
        }
        const done = new Promise<{ playedMs: number; stopped: boolean }>((resolve) => {
          const t = clock.setTimeout(() => resolve({ playedMs: lengths.get(o.playId)!, stopped: false }), lengths.get(o.playId)!);
          stop = () => {
            clock.clearTimeout(t);
            resolve({ playedMs: clock.now() - began, stopped: true });
          };
        });
        return { done, stop: () => stop() };
      },
    }),
  };
  const cache = { pathFor: () => '/cached.ogg' };
  const player = new Player({ amplifier: new FakeAmplifier(), sink, clock, logger: silentLogger, tailMs: 500 });
  const timeline = new Timeline({ player, cache: cache as unknown as ContentCache, clock, logger: silentLogger, warmupMs: 0, volume: () => 80, isDone: () => false });
  const statuses: LiveStatus[] = [];
  const refused: Refusal[] = [];
  const urgent: boolean[] = [];
  const followed: boolean[] = [];
  const reports: PlayReport[] = [];
  const receiver = new LiveReceiver({
    timeline,
    trustedKeys: () => signer.serverKeys,
    clock,
    logger: silentLogger,
    send: async (s) => void statuses.push(s),
    refuse: (r) => refused.push(r),
    setUrgent: (u) => urgent.push(u),
    followClock: (on) => followed.push(on),
  });
  timeline.on('report', (r) => {
    reports.push(r);
    receiver.onReport(r);
  });
  player.on('started', (p) => receiver.onStarted(p));
  receiver.start();
  const on = (over: Partial<LiveOn> = {}): LiveOn => ({ v: 1, type: 'live', sessionId: 's1', areaId: 'a1', priority: 'priority', anchorMs: T0 + 900, frameMs: 20, codec: 'opus', sampleRate: 48000, channels: 1, ...over });
  const group = (firstIndex: number, count = 3, by = server, sessionId = 's1') =>
    encodeFrameGroup({ kid: by.kid, sessionId, firstIndex, frames: Array.from({ length: count }, () => Buffer.from([0xf8, 0xff, 0xfe])) }, (d) => by.signBytes(d));
  const programme = (plays: DesiredPlay[], quietHours?: DesiredState['quietHours']): void => {
    for (const p of plays) lengths.set(p.playId, p.durationMs);
    timeline.apply({ v: 1, deviceId: 'd1', version: 1, issuedAt: iso(T0), plays, ...(quietHours ? { quietHours } : {}) } as DesiredState);
  };
  const stop = async () => {
    receiver.stop();
    await timeline.stop();
  };
  return { clock, server, heard, starts, statuses, refused, urgent, followed, reports, receiver, timeline, on, group, programme, lengths, stop };
}

const play = (over: Partial<DesiredPlay>): DesiredPlay => ({ playId: 'p1', scheduleId: 'sch1', contentId: 'c1', sha256: 'a'.repeat(64), url: 'http://x/c1', durationMs: 60_000, startAt: iso(T0), priority: 'normal', ...over });
const states = (w: { statuses: LiveStatus[] }) => w.statuses.map((s) => s.state);

describe('live receiver on a manual clock', () => {
  it('joins an announced session, plays its signed frames and ends after its last one', async () => {
    const w = world();
    w.receiver.onMessage(w.on());
    w.receiver.onAudio('a1', w.group(0));
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    w.receiver.onAudio('a1', w.group(3));
    w.receiver.onAudio('a1', w.group(6, 2));
    w.receiver.onMessage({ v: 1, type: 'live-end', sessionId: 's1', areaId: 'a1', lastIndex: 7 });
    await w.clock.runUntil(() => w.reports.length === 1);
    expect(w.heard.get('live-s1')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(w.reports[0]).toMatchObject({ playId: 'live-s1', scheduleId: 's1', contentId: 's1', status: 'completed', playedMs: 160, scheduledAt: iso(T0 + 900) });
    expect(states(w)).toEqual(['joining', 'playing', 'ended']);
    expect(w.urgent).toEqual([true, false]);
    expect(w.followed).toEqual([true, false]); // the clock followed while it played
    // Its announcement repeated later (a copy still in flight) does not start it again.
    w.receiver.onMessage(w.on());
    await w.clock.advanceAsync(100);
    expect(w.starts).toEqual(['live-s1']);
    await w.stop();
  });

  it('refuses frames signed by a stranger, and frames of a session it was not told of', async () => {
    const w = world();
    w.receiver.onMessage(w.on());
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    const stranger = new EnvelopeSigner(newSigningKey().privateKeyPem);
    w.receiver.onAudio('a1', w.group(0, 3, stranger));
    // The server's key, but the bytes changed after signing.
    const forged = w.group(3);
    forged.writeUInt8(forged.readUInt8(forged.length - 70) ^ 0xff, forged.length - 70);
    w.receiver.onAudio('a1', forged);
    w.receiver.onAudio('a1', Buffer.from('hello'));
    w.receiver.onAudio('a1', w.group(6, 3, w.server, 'other'));
    w.receiver.onAudio('a1', w.group(9));
    expect(w.heard.get('live-s1')).toEqual([9, 10, 11]);
    expect(w.refused.map((r) => r.reason)).toEqual(['unknown-key', 'bad-signature', 'invalid']);
    await w.stop();
  });

  it('cuts a normal play, which is reported interrupted', async () => {
    const w = world();
    w.programme([play({})]);
    await w.clock.runUntil(() => w.starts.length === 1);
    await w.clock.advanceAsync(5000);
    w.receiver.onMessage(w.on({ anchorMs: T0 + 6000 }));
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    expect(w.reports[0]).toMatchObject({ playId: 'p1', status: 'interrupted', reason: 'preempted-by:live:s1' });
    expect(w.starts).toEqual(['p1', 'live-s1']);
    await w.stop();
  });

  it('never cuts an alert: it waits, and joins at its live point when the alert ends', async () => {
    const w = world();
    w.lengths.set('al-1-r1', 3000);
    w.timeline.add([play({ playId: 'al-1-r1', scheduleId: 'al-1', priority: 'emergency', durationMs: 3000 })]);
    await w.clock.runUntil(() => w.starts.length === 1);
    w.receiver.onMessage(w.on({ priority: 'emergency' }));
    w.receiver.onAudio('a1', w.group(0));
    await w.clock.advanceAsync(1000);
    expect(states(w)).toEqual(['joining']);
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    expect(w.reports[0]).toMatchObject({ playId: 'al-1-r1', status: 'completed' });
    expect(w.starts).toEqual(['al-1-r1', 'live-s1']);
    await w.stop();
  });

  it('is cut by an alert that comes while it plays', async () => {
    const w = world();
    w.receiver.onMessage(w.on());
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    w.lengths.set('al-1-r1', 3000);
    w.timeline.add([play({ playId: 'al-1-r1', scheduleId: 'al-1', priority: 'emergency', durationMs: 3000, startAt: iso(w.clock.now()) })]);
    await w.clock.runUntil(() => w.reports.length === 1);
    expect(w.reports[0]).toMatchObject({ playId: 'live-s1', status: 'interrupted', reason: 'preempted-by:alert:al-1' });
    expect(states(w)).toEqual(['joining', 'playing', 'ended']);
    await w.stop();
  });

  it('keeps quiet hours for a priority announcement, not for an emergency one', async () => {
    const w = world();
    w.programme([], { from: '09:00', to: '11:00', timeZone: 'Asia/Ho_Chi_Minh' });
    w.receiver.onMessage(w.on());
    await w.clock.runUntil(() => w.reports.length === 1);
    expect(w.reports[0]).toMatchObject({ playId: 'live-s1', status: 'skipped', reason: 'quiet-hours', playedMs: 0 });
    expect(states(w)).toEqual(['joining', 'refused']);
    w.receiver.onMessage(w.on({ sessionId: 's2', priority: 'emergency' }));
    await w.clock.runUntil(() => w.statuses.some((s) => s.sessionId === 's2' && s.state === 'playing'));
    await w.stop();
  });

  it('stops a session it hears nothing of, and joins it again at its live point when it comes back', async () => {
    const w = world();
    w.receiver.onMessage(w.on());
    w.receiver.onAudio('a1', w.group(0));
    await w.clock.runUntil(() => w.statuses.some((s) => s.state === 'playing'));
    await w.clock.advanceAsync(LIVE_LOST_AFTER_MS + 1000);
    expect(w.reports[0]).toMatchObject({ playId: 'live-s1', status: 'interrupted', reason: 'live-lost', playedMs: 60 });
    expect(states(w)).toEqual(['joining', 'playing', 'lost']);
    w.receiver.onMessage(w.on());
    w.receiver.onAudio('a1', w.group(900));
    await w.clock.runUntil(() => w.statuses.filter((s) => s.state === 'playing').length === 2);
    expect(w.heard.get('live-s1-j2')).toEqual([900, 901, 902]);
    await w.stop();
  });

  it('reports a session that ended before its turn came as skipped', async () => {
    const w = world();
    w.lengths.set('al-1-r1', 5000);
    w.timeline.add([play({ playId: 'al-1-r1', scheduleId: 'al-1', priority: 'emergency', durationMs: 5000 })]);
    await w.clock.runUntil(() => w.starts.length === 1);
    w.receiver.onMessage(w.on());
    await w.clock.advanceAsync(1000);
    w.receiver.onMessage({ v: 1, type: 'live-end', sessionId: 's1', areaId: 'a1', lastIndex: 40 });
    await w.clock.runUntil(() => w.reports.length === 2);
    expect(w.reports.map((r) => [r.playId, r.status, r.reason])).toEqual([
      ['live-s1', 'skipped', 'live-ended'],
      ['al-1-r1', 'completed', undefined],
    ]);
    expect(states(w)).toEqual(['joining', 'ended']);
    await w.stop();
  });
});
