/**
 * The alert handler with the real timeline and player, on a manual clock: each repetition on
 * its instant, statuses in order, expiry, cancel, replace, preemption, resends. Every test runs
 * in milliseconds; tests/alerts.e2e.test.ts runs the same flows against the real server on real time.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, type AlertPlay, type AlertStatus, type DesiredPlay, type DesiredState, type PlayReport } from '@loalang/protocol';
import type { AudioSink, PlayHandle, PlayOptions, PreparedPlay } from '../src/playback/audio-sink.js';
import type { ContentCache } from '../src/storage/content-cache.js';
import { AlertHandler, alertPlays } from '../src/playback/alerts.js';
import { Player } from '../src/playback/player.js';
import { Timeline } from '../src/playback/timeline.js';
import { FakeAmplifier } from '@loalang/test-kit';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

/** An alert whose audio lasts 2 s, 3 repetitions 1 s apart from T0 + 5 s, valid an hour. */
const alertOf = (over: Partial<AlertPlay> = {}): AlertPlay => ({
  v: 1, type: 'alert', alertId: 'al-1', title: 'Bão số 3', priority: 'emergency', issuedAt: iso(0), startAt: iso(5000), expiresAt: iso(3600_000), repeat: 3, gapMs: 1000,
  audio: { contentId: 'speech', sha256: 'b'.repeat(64), url: 'http://x/speech', durationMs: 2000, inline: Buffer.from('ogg').toString('base64') },
  ...over,
});

function world(opts: { audio?: 'ok' | 'fails' } = {}) {
  const clock = new ManualClock(T0);
  /** Plays sound for their length on the clock; `starts` notes each play and when. */
  const starts: { playId: string; at: number }[] = [];
  const lengths = new Map<string, number>();
  const sink: AudioSink = {
    prepare: (_source, o: PlayOptions): PreparedPlay => ({
      cancel: () => undefined,
      start: (inMs = 0): PlayHandle => {
        // The audio sounds `inMs` after the call (the player's pre-roll).
        const began = clock.now() + inMs;
        starts.push({ playId: o.playId, at: began });
        let stop = () => {};
        const done = new Promise<{ playedMs: number; stopped: boolean }>((resolve) => {
          const t = clock.setTimeout(() => resolve({ playedMs: lengths.get(o.playId)!, stopped: false }), inMs + lengths.get(o.playId)!);
          stop = () => {
            clock.clearTimeout(t);
            resolve({ playedMs: Math.max(0, clock.now() - began), stopped: true });
          };
        });
        return { done, stop: () => stop() };
      },
    }),
  };
  const statuses: AlertStatus[] = [];
  const link = { up: true, attempts: 0 };
  const reports: PlayReport[] = [];
  const stored: string[] = [];
  const cache = {
    pathFor: () => '/cached.ogg',
    storeBytes: async (item: { contentId: string }) => void stored.push(item.contentId),
    ensure: async (item: { contentId: string }) => {
      if (opts.audio === 'fails') throw new Error(`HTTP 404 for ${item.contentId}`);
      stored.push(item.contentId);
    },
  };
  const player = new Player({ amplifier: new FakeAmplifier(), sink, clock, logger: silentLogger, tailMs: 500 });
  const timeline = new Timeline({ player, cache: cache as unknown as ContentCache, clock, logger: silentLogger, warmupMs: 200, volume: () => 80, isDone: () => false });
  const handler = new AlertHandler({
    timeline, cache, clock, logger: silentLogger,
    send: async (s) => {
      link.attempts++;
      if (!link.up) throw new Error('not connected');
      statuses.push(s);
    },
  });
  // Wired as in Agent.create.
  timeline.on('report', (r) => {
    reports.push(r);
    handler.onReport(r);
  });
  player.on('started', (p, at) => handler.onStarted(p, at));
  const receive = (m: AlertPlay) => {
    for (const p of alertPlays(m)) lengths.set(p.playId, p.durationMs);
    handler.onMessage(m);
  };
  const cancel = (alertId: string) => handler.onMessage({ v: 1, type: 'cancel', alertId, at: new Date(clock.now()).toISOString() });
  const stop = async () => {
    handler.stop();
    await timeline.stop();
  };
  return { clock, starts, lengths, statuses, link, reports, stored, alerts: handler, timeline, receive, cancel, stop };
}

const states = (s: AlertStatus[]) => s.map((x) => [x.state, x.played]);

describe('alert handler on a manual clock', () => {
  it('plays each repetition on its instant and reports received, started, each repetition, then finished', async () => {
    const w = world();
    w.receive(alertOf());
    await w.clock.runUntil(() => w.statuses.at(-1)?.state === 'finished');
    expect(w.stored).toEqual(['speech']); // the inline audio, kept
    expect(w.starts).toEqual([{ playId: 'al-1-r1', at: T0 + 5000 }, { playId: 'al-1-r2', at: T0 + 8000 }, { playId: 'al-1-r3', at: T0 + 11_000 }]);
    expect(states(w.statuses)).toEqual([['received', 0], ['started', 0], ['started', 1], ['started', 2], ['finished', 3]]);
    expect(w.statuses[0]!.at).toBe(iso(0));
    expect(w.statuses[1]).toMatchObject({ startedAt: iso(5000), at: iso(5000) });
    expect(w.statuses.at(-1)).toMatchObject({ at: iso(13_000), startedAt: iso(5000) });
    expect(w.reports.map((r) => [r.playId, r.status, r.playedMs])).toEqual([['al-1-r1', 'completed', 2000], ['al-1-r2', 'completed', 2000], ['al-1-r3', 'completed', 2000]]);
    // Finished, it can no longer expire.
    await w.clock.advanceAsync(3600_000);
    expect(w.statuses).toHaveLength(5);
    await w.stop();
  });

  it('ends at its expiry: the repetition playing stops, the rest never start', async () => {
    const w = world();
    w.receive(alertOf({ startAt: iso(1000), repeat: 5, gapMs: 0, expiresAt: iso(5500) }));
    await w.clock.runUntil(() => w.statuses.at(-1)?.state === 'expired');
    expect(w.clock.now()).toBe(T0 + 5500);
    expect(w.statuses.at(-1)).toMatchObject({ state: 'expired', reason: 'expired', played: 2, at: iso(5500) });
    await w.clock.advanceAsync(60_000);
    expect(w.starts.map((s) => s.playId)).toEqual(['al-1-r1', 'al-1-r2', 'al-1-r3']);
    const cut = w.reports.find((r) => r.playId === 'al-1-r3')!;
    expect(cut).toMatchObject({ status: 'interrupted', reason: 'expired', endedAt: iso(5500) });
    expect(cut.playedMs).toBeGreaterThan(0);
    expect(cut.playedMs).toBeLessThan(2000);
    expect(w.statuses.filter((s) => s.state === 'expired')).toHaveLength(1);
    await w.stop();
  });

  it('cancel silences it mid-play; the next repetition never starts and a replayed copy does not play again', async () => {
    const w = world();
    const m = alertOf({ startAt: iso(1000), repeat: 2 });
    w.receive(m);
    await w.clock.advanceAsync(2000);
    expect(w.starts.map((s) => s.playId)).toEqual(['al-1-r1']);
    w.cancel('al-1');
    await w.clock.advanceAsync(0);
    expect(w.statuses.at(-1)).toMatchObject({ state: 'cancelled', reason: 'cancelled', played: 0 });
    expect(w.reports).toEqual([expect.objectContaining({ playId: 'al-1-r1', status: 'interrupted', reason: 'cancelled', playedMs: 1000 })]);
    w.receive(m); // the server replays it after a reconnect
    await w.clock.advanceAsync(60_000);
    expect(w.starts.map((s) => s.playId)).toEqual(['al-1-r1']);
    expect(states(w.statuses).slice(-2)).toEqual([['cancelled', 0], ['cancelled', 0]]);
    await w.stop();
  });

  it('a cancel that arrives before its alert keeps the alert from playing', async () => {
    const w = world();
    w.cancel('al-1');
    expect(w.statuses).toEqual([]);
    w.receive(alertOf());
    await w.clock.advanceAsync(60_000);
    expect(w.starts).toEqual([]);
    expect(w.statuses).toEqual([expect.objectContaining({ state: 'cancelled', reason: 'cancelled' })]);
    await w.stop();
  });

  it('an update replaces the alert playing: the old one stops as replaced, the new one plays to the end', async () => {
    const w = world();
    w.receive(alertOf({ startAt: iso(1000), repeat: 2 }));
    await w.clock.advanceAsync(1500);
    w.receive(alertOf({ alertId: 'al-2', replaces: 'al-1', startAt: iso(3000), repeat: 1 }));
    await w.clock.runUntil(() => w.statuses.some((s) => s.alertId === 'al-2' && s.state === 'finished'));
    expect(w.statuses.filter((s) => s.alertId === 'al-1').map((s) => [s.state, s.reason])).toEqual([['received', undefined], ['started', undefined], ['cancelled', 'replaced-by:al-2']]);
    expect(states(w.statuses.filter((s) => s.alertId === 'al-2'))).toEqual([['received', 0], ['started', 0], ['finished', 1]]);
    expect(w.reports.find((r) => r.playId === 'al-1-r1')).toMatchObject({ status: 'interrupted', playedMs: 500 });
    expect(w.starts).toEqual([{ playId: 'al-1-r1', at: T0 + 1000 }, { playId: 'al-2-r1', at: T0 + 3000 }]);
    await w.stop();
  });

  it('cuts a scheduled bulletin: its report says interrupted by the alert, then the alert plays', async () => {
    const w = world();
    const bulletin: DesiredPlay = { playId: 'bulletin', scheduleId: 'morning', contentId: 'news', sha256: 'a'.repeat(64), url: 'http://x/news', durationMs: 10_000, startAt: iso(1000), priority: 'normal' };
    w.lengths.set('bulletin', 10_000);
    const state: DesiredState = { v: 1, deviceId: 'd', version: 1, issuedAt: iso(0), horizonUntil: iso(3600_000), plays: [bulletin] };
    w.timeline.apply(state);
    await w.clock.advanceAsync(2000);
    w.receive(alertOf({ startAt: iso(3000), repeat: 1 }));
    await w.clock.runUntil(() => w.statuses.at(-1)?.state === 'finished');
    // Cut at the alert's warm-up; its audio on its instant.
    expect(w.reports[0]).toMatchObject({ playId: 'bulletin', status: 'interrupted', reason: 'preempted-by:alert:al-1', playedMs: 1800 });
    expect(w.starts).toEqual([{ playId: 'bulletin', at: T0 + 1000 }, { playId: 'al-1-r1', at: T0 + 3000 }]);
    await w.stop();
  });

  it('an alert already expired on arrival is expired at once and never plays', async () => {
    const w = world();
    await w.clock.advanceAsync(10_000);
    w.receive(alertOf({ expiresAt: iso(9000) }));
    await w.clock.advanceAsync(60_000);
    expect(w.statuses).toEqual([expect.objectContaining({ state: 'expired', reason: 'expired', at: iso(10_000) })]);
    expect(w.starts).toEqual([]);
    expect(w.stored).toEqual([]);
    await w.stop();
  });

  it('an alert whose audio cannot be had fails, and says why', async () => {
    const w = world({ audio: 'fails' });
    w.receive(alertOf({ audio: { ...alertOf().audio, inline: undefined } as AlertPlay['audio'] }));
    await w.clock.advanceAsync(60_000);
    expect(states(w.statuses)).toEqual([['received', 0], ['failed', 0]]);
    expect(w.statuses[1]!.reason).toBe('content-unavailable: HTTP 404 for speech');
    expect(w.starts).toEqual([]);
    await w.stop();
  });

  it('statuses that did not get through are sent again, as they are now, when the link returns', async () => {
    const w = world();
    w.link.up = false;
    w.receive(alertOf({ startAt: iso(1000), repeat: 1 }));
    await w.clock.runUntil(() => w.starts.length === 1 && w.link.attempts >= 2);
    expect(w.statuses).toEqual([]);
    w.link.up = true;
    w.alerts.resendUnsent();
    await w.clock.advanceAsync(0);
    expect(states(w.statuses)).toEqual([['started', 0]]);
    w.alerts.resendUnsent(); // sent now: nothing more to resend
    await w.clock.advanceAsync(0);
    expect(w.statuses).toHaveLength(1);
    await w.clock.runUntil(() => w.statuses.at(-1)?.state === 'finished');
    await w.stop();
  });
});
