/**
 * The agent's play order (Thông tư 39): emergency preempts, `priority` goes before `normal`.
 * On a manual clock: timeline, player and sink all wait on it, so each test takes
 * milliseconds and every instant is exact (agent.test.ts plays on real time).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, type DesiredPlay, type DesiredState, type PlayReport, type Priority } from '@loalang/protocol';
import type { AudioSink, PlayHandle, PlayOptions, PlaySource, PreparedPlay } from '../src/playback/audio-sink.js';
import type { ContentCache } from '../src/storage/content-cache.js';
import { Player } from '../src/playback/player.js';
import { Timeline } from '../src/playback/timeline.js';
import { FakeAmplifier } from '@loalang/test-kit';

let clock: ManualClock;
beforeEach(() => {
  clock = new ManualClock();
});

/** Plays for the play's length on the clock, recording the order plays started in and when. */
class RecordingSink implements AudioSink {
  started: string[] = [];
  startedAt: Record<string, number> = {};
  constructor(private readonly lengthOf: (playId: string) => number) {}
  prepare(_source: PlaySource, opts: PlayOptions): PreparedPlay {
    return { start: (inMs = 0) => this.play(opts, inMs), cancel: () => undefined };
  }
  /** The audio sounds `inMs` after the call (the player's pre-roll). */
  private play(opts: PlayOptions, inMs: number): PlayHandle {
    this.started.push(opts.playId);
    const began = clock.now() + inMs;
    this.startedAt[opts.playId] = began;
    let stop = () => {};
    const done = new Promise<{ playedMs: number; stopped: boolean }>((resolve) => {
      const t = clock.setTimeout(() => resolve({ playedMs: this.lengthOf(opts.playId), stopped: false }), inMs + this.lengthOf(opts.playId));
      stop = () => {
        clock.clearTimeout(t);
        resolve({ playedMs: Math.max(0, clock.now() - began), stopped: true });
      };
    });
    return { done, stop: () => stop() };
  }
}

const cache = { pathFor: () => '/cached.ogg' } as unknown as ContentCache;

const stateOf = (plays: DesiredPlay[], version = 1): DesiredState => {
  const now = clock.now();
  return { v: 1, deviceId: 'd', version, issuedAt: new Date(now).toISOString(), horizonUntil: new Date(now + 3600_000).toISOString(), plays };
};

/** `added`: plays the test will add later (alerts); the sink needs their lengths too. */
function run(plays: DesiredPlay[], added: DesiredPlay[] = []) {
  const sink = new RecordingSink((id) => [...plays, ...added].find((p) => p.playId === id)!.durationMs);
  const reports: PlayReport[] = [];
  const player = new Player({ amplifier: new FakeAmplifier(), sink, clock, logger: silentLogger, tailMs: 100 });
  const timeline = new Timeline({ player, cache, clock, logger: silentLogger, warmupMs: 100, volume: () => 80, isDone: () => false });
  timeline.on('report', (r) => reports.push(r));
  timeline.apply(stateOf(plays));
  return { sink, reports, timeline };
}

const at = (ms: number) => new Date(clock.now() + ms).toISOString();
const play = (playId: string, priority: Priority, startInMs: number, durationMs: number): DesiredPlay => ({
  playId, scheduleId: `s-${playId}`, contentId: 'c', sha256: 'a'.repeat(64), url: 'http://x/c', durationMs, startAt: at(startInMs), priority,
});

/** Runs the clock until `cond` holds (at most 10 s of its time). */
const until = (cond: () => boolean, ms = 10_000) => clock.runUntil(cond, ms);

describe('play order', () => {
  it('takes a waiting priority play before a normal one that was due earlier', async () => {
    // A plays; B (normal) and P (priority) both come due while A still plays.
    const a = play('A', 'normal', 300, 900);
    const { sink, reports, timeline } = run([a, play('B', 'normal', 500, 200), play('P', 'priority', 700, 200)]);
    await until(() => reports.length === 3);
    await timeline.stop();
    expect(sink.started).toEqual(['A', 'P', 'B']);
    expect(sink.startedAt['A']).toBe(Date.parse(a.startAt)); // on the instant
    expect(reports.find((r) => r.playId === 'A')).toMatchObject({ startedAt: a.startAt, playedMs: 900 });
    expect(reports.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
    // Kept waiting, B still played (late), and its report shows by how much.
    const b = reports.find((r) => r.playId === 'B')!;
    expect(Date.parse(b.startedAt!) - Date.parse(b.scheduledAt)).toBeGreaterThan(500);
  });

  it('of two plays due at the same instant, the priority one goes first', async () => {
    const { sink, reports, timeline } = run([play('N', 'normal', 300, 200), play('P', 'priority', 300, 200)]);
    await until(() => reports.length === 2);
    await timeline.stop();
    expect(sink.started).toEqual(['P', 'N']);
  });

  it('an emergency cuts a priority play; the cut play is not resumed', async () => {
    const e = play('E', 'emergency', 600, 300);
    const { sink, reports, timeline } = run([play('P', 'priority', 200, 2000), e]);
    await until(() => reports.length === 2);
    await timeline.stop();
    expect(sink.started).toEqual(['P', 'E']);
    expect(sink.startedAt['E']).toBe(Date.parse(e.startAt)); // the cut happens at its warm-up, its audio on the instant
    expect(reports.find((r) => r.playId === 'P')).toMatchObject({ status: 'interrupted', reason: 'preempted-by:E' });
  });

  it('drops a waiting play that a new programme no longer holds', async () => {
    const a = play('A', 'normal', 200, 900);
    const b = play('B', 'normal', 400, 200);
    const { sink, reports, timeline } = run([a, b]);
    await clock.advanceAsync(600); // B is due and waits behind A
    timeline.apply(stateOf([a], 2)); // B's schedule was deleted
    await until(() => reports.length === 1);
    await clock.advanceAsync(400);
    await timeline.stop();
    expect(sink.started).toEqual(['A']);
    expect(reports.map((r) => r.playId)).toEqual(['A']);
  });

  it('an added alert cuts even a scheduled emergency, waits behind another alert, survives a new programme, and stops on remove', async () => {
    const scheduled = play('S', 'emergency', 200, 3000);
    const alert1 = { ...play('A1', 'emergency', 500, 600), scheduleId: 'alert-1' };
    const alert2 = { ...play('A2', 'emergency', 600, 600), scheduleId: 'alert-2' };
    const { sink, reports, timeline } = run([scheduled], [alert1, alert2]);
    await until(() => sink.started.includes('S'));
    timeline.add([alert1]);
    timeline.apply(stateOf([scheduled], 2)); // a new programme arrives meanwhile
    timeline.add([alert2]);
    await until(() => sink.started.includes('A2'));
    timeline.remove('alert-2', 'cancelled');
    await until(() => reports.length === 3);
    await timeline.stop();
    expect(sink.started).toEqual(['S', 'A1', 'A2']);
    expect(reports.find((r) => r.playId === 'S')).toMatchObject({ status: 'interrupted', reason: 'preempted-by:alert:alert-1' });
    expect(reports.find((r) => r.playId === 'A1')).toMatchObject({ status: 'completed' });
    expect(reports.find((r) => r.playId === 'A2')).toMatchObject({ status: 'interrupted', reason: 'cancelled' });
  });
});
