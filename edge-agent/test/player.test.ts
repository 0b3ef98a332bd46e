/**
 * The player owns the amplifier: a technician's amp-test never races a play's tail or cuts a
 * play (issue 14: amp-test right after a test tone was switched off by the pending tail).
 * Everything waits on one manual clock (the board's round trips, the plays, the tail), so each
 * test places the tail exactly and runs in milliseconds. The pre-roll (a file released 200 ms
 * ahead of its instant) is checked on the same clock.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, type DesiredPlay } from '@loalang/protocol';
import type { AudioSink, PlayHandle, PreparedPlay } from '../src/playback/audio-sink.js';
import { Player, PREROLL_MS } from '../src/playback/player.js';
import { FakeAmplifier } from '@loalang/test-kit';

const ROUND_TRIP_MS = 5;

/** A board on a serial line: requests are answered in order, each after a round trip; `calls` notes each as it is answered. */
class SerialAmplifier extends FakeAmplifier {
  private line: Promise<unknown> = Promise.resolve();
  constructor(private readonly clock: ManualClock) {
    super();
  }
  private send<T>(op: () => Promise<T>): Promise<T> {
    const answer = this.line.then(() => new Promise<void>((r) => this.clock.setTimeout(r, ROUND_TRIP_MS))).then(op);
    this.line = answer.catch(() => undefined);
    return answer;
  }
  override powerOn() {
    return this.send(() => super.powerOn());
  }
  override powerOff() {
    return this.send(() => super.powerOff());
  }
  override status() {
    return this.send(() => super.status());
  }
}

/** Plays for `ms` on the clock. */
const sink = (clock: ManualClock, ms: number): AudioSink => ({
  prepare: (): PreparedPlay => ({
    start: (inMs = 0): PlayHandle => ({ done: new Promise((r) => clock.setTimeout(() => r({ playedMs: ms, stopped: false }), inMs + ms)), stop: () => undefined }),
    cancel: () => undefined,
  }),
});

/** A play due now on the test's clock. */
const play = (clock: ManualClock, ms: number): DesiredPlay => ({
  playId: `p-${Math.random()}`, scheduleId: 's', contentId: 'c', sha256: 'a'.repeat(64), url: 'http://x/c', durationMs: ms, startAt: new Date(clock.now()).toISOString(), priority: 'normal',
});

function setup(playMs: number, tailMs = 60) {
  const clock = new ManualClock();
  const amplifier = new SerialAmplifier(clock);
  const player = new Player({ amplifier, sink: sink(clock, playMs), clock, logger: silentLogger, tailMs });
  /** Runs the clock, timer by timer, until `p` settles; its value. */
  const settled = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    void p.then(() => (done = true), () => (done = true));
    await clock.runUntil(() => done, 60_000);
    return p;
  };
  return { amplifier, clock, player, settled };
}

describe('Player and the amplifier', () => {
  it('amp-test in the tail of a play holds the tail while it reads the board, then lets it switch off', async () => {
    const { amplifier, clock, player, settled } = setup(20);
    await settled(player.warmUp());
    await settled(player.run(play(clock, 20), '/x.ogg', 80, undefined));
    const tailDue = clock.now() + 60;
    await clock.advanceAsync(57);
    const testing = player.testAmplifier();
    await clock.advanceAsync(4); // the tail falls due while the board is being read
    expect(clock.now()).toBeGreaterThan(tailDue);
    expect(amplifier.calls).toEqual(['on']);
    const { status, switched } = await settled(testing);
    const readAt = clock.now();
    expect(status.power).toBe(true);
    expect(switched).toBe(false);
    expect(amplifier.calls).toEqual(['on']);
    // The tail is armed again from the end of the read: a full tail, then the switch-off's round trip.
    await clock.advanceAsync(59);
    expect(amplifier.calls).toEqual(['on']);
    await clock.advanceAsync(1 + ROUND_TRIP_MS);
    expect(clock.now()).toBe(readAt + 60 + ROUND_TRIP_MS);
    expect(amplifier.calls).toEqual(['on', 'off']);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test while the tail\'s switch-off is on the wire waits for it, then cycles the amplifier itself', async () => {
    const { amplifier, clock, player, settled } = setup(20);
    await settled(player.warmUp());
    await settled(player.run(play(clock, 20), '/x.ogg', 80, undefined));
    await clock.advanceAsync(60); // switch-off sent
    expect(amplifier.calls).toEqual(['on']); // on the wire, not answered yet
    const { status, switched } = await settled(player.testAmplifier());
    expect(status.power).toBe(true);
    expect(switched).toBe(true);
    expect(amplifier.calls).toEqual(['on', 'off', 'on', 'off']);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test during a play leaves the amplifier on for it', async () => {
    const { amplifier, clock, player, settled } = setup(200);
    await settled(player.warmUp());
    const playing = player.run(play(clock, 200), '/x.ogg', 80, undefined);
    await clock.advanceAsync(30);
    expect(await settled(player.testAmplifier())).toMatchObject({ status: { power: true }, switched: false });
    expect(amplifier.power).toBe(true);
    expect((await settled(playing)).status).toBe('completed');
    expect(amplifier.calls).toEqual(['on']);
  });

  it('a play that warms up during an amp-test keeps the amplifier on', async () => {
    const { amplifier, clock, player, settled } = setup(20);
    const testing = player.testAmplifier();
    await clock.advanceAsync(2);
    await settled(player.warmUp());
    expect((await settled(testing)).status.power).toBe(true);
    expect(amplifier.power).toBe(true);
    await settled(player.run(play(clock, 20), '/x.ogg', 80, undefined));
    await clock.advanceAsync(60 + ROUND_TRIP_MS);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test of an idle amplifier switches it on, reads it and switches it off', async () => {
    const { amplifier, player, settled } = setup(10);
    expect(await settled(player.testAmplifier())).toEqual({ status: { power: true, faults: [], temperatureC: 31 }, switched: true });
    expect(amplifier.calls).toEqual(['on', 'off']);
    expect(amplifier.power).toBe(false);
  });
});

describe('Player pre-roll', () => {
  /** Records when start() was called and with how much pre-roll; plays `ms` after it, stoppable. */
  function preroll(ms: number) {
    const clock = new ManualClock();
    const calls: { at: number; inMs: number }[] = [];
    const sink: AudioSink = {
      prepare: (): PreparedPlay => ({
        start: (inMs = 0): PlayHandle => {
          calls.push({ at: clock.now(), inMs });
          let stop = () => {};
          const done = new Promise<{ playedMs: number; stopped: boolean }>((resolve) => {
            const due = clock.now() + inMs;
            const t = clock.setTimeout(() => resolve({ playedMs: ms, stopped: false }), inMs + ms);
            stop = () => (clock.clearTimeout(t), resolve({ playedMs: Math.max(0, clock.now() - due), stopped: true }));
          });
          return { done, stop: () => stop() };
        },
        cancel: () => undefined,
      }),
    };
    const warnings: { obj: object | string; msg?: string }[] = [];
    const logger = { ...silentLogger, warn: (obj: object | string, msg?: string) => void warnings.push({ obj, msg }) };
    const player = new Player({ amplifier: new FakeAmplifier(), sink, clock, logger, tailMs: 60 });
    const started: number[] = [];
    player.on('started', (_p, at) => started.push(at));
    const due = (inMs: number): DesiredPlay => ({ ...play(clock, ms), startAt: new Date(clock.now() + inMs).toISOString() });
    return { clock, player, calls, started, due, warnings };
  }

  it('releases a file PREROLL_MS ahead with the time to its instant, and says started at the instant', async () => {
    const { clock, player, calls, started, due } = preroll(500);
    const p = due(1000);
    const running = player.run(p, '/x.ogg', 80, undefined);
    await clock.advanceAsync(800);
    expect(calls).toEqual([{ at: clock.now(), inMs: PREROLL_MS }]);
    expect(started).toEqual([]);
    await clock.advanceAsync(PREROLL_MS);
    expect(started).toEqual([Date.parse(p.startAt)]);
    await clock.advanceAsync(500);
    expect(await running).toMatchObject({ status: 'completed', startedAt: p.startAt, playedMs: 500 });
  });

  it('a file released after its instant starts at once, reports when it did, and says by how much it was late', async () => {
    const { clock, player, calls, warnings, due } = preroll(500);
    const p = due(-30); // given 30 ms after its instant (a box too busy to get there in time)
    const running = player.run(p, '/x.ogg', 80, undefined);
    await clock.advanceAsync(500);
    expect(calls).toEqual([{ at: Date.parse(p.startAt) + 30, inMs: 0 }]);
    expect(await running).toMatchObject({ status: 'completed', startedAt: new Date(Date.parse(p.startAt) + 30).toISOString() });
    expect(warnings).toEqual([{ obj: expect.objectContaining({ playId: p.playId, lateMs: 30, enteredBeforeMs: -30, prepareMs: 0 }), msg: 'play released after its instant' }]);
  });

  it('says nothing of a play released in time', async () => {
    const { clock, player, warnings, due } = preroll(100);
    const running = player.run(due(1000), '/x.ogg', 80, undefined);
    await clock.advanceAsync(1200);
    await running;
    expect(warnings).toEqual([]);
  });

  it('a play stopped during its pre-roll sounded nothing: interrupted, 0 ms, never said started', async () => {
    const { clock, player, calls, started, due } = preroll(500);
    const running = player.run(due(1000), '/x.ogg', 80, undefined);
    await clock.advanceAsync(900);
    expect(calls).toHaveLength(1);
    player.preempt('alert:a1');
    await clock.advanceAsync(1000);
    const report = await running;
    expect(report).toMatchObject({ status: 'interrupted', reason: 'preempted-by:alert:a1', playedMs: 0 });
    expect(report.startedAt).toBeUndefined();
    expect(started).toEqual([]);
  });
});
