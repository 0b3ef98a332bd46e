/**
 * The player owns the amplifier: a technician's amp-test never races a play's tail or cuts a
 * play (issue 14: amp-test right after a test tone was switched off by the pending tail).
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, silentLogger, type DesiredPlay } from '@loalang/protocol';
import type { AudioSink, PlayHandle, PreparedPlay } from '../src/audio-sink.js';
import { Player } from '../src/player.js';
import { FakeAmplifier } from './peers.js';

/** A board on a serial line: requests are answered in order, each after a round trip (5 ms). */
class SerialAmplifier extends FakeAmplifier {
  private line: Promise<unknown> = Promise.resolve();
  private send<T>(op: () => Promise<T>): Promise<T> {
    const answer = this.line.then(() => new Promise((r) => setTimeout(r, 5))).then(op);
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

/** Plays for `ms` of real time. */
const sink = (ms: number): AudioSink => ({
  prepare: (): PreparedPlay => ({
    start: (): PlayHandle => ({ done: new Promise((r) => setTimeout(() => r({ playedMs: ms, stopped: false }), ms)), stop: () => undefined }),
    cancel: () => undefined,
  }),
});

/** A play due now on the test's clock. */
const play = (clock: ManualClock, ms: number): DesiredPlay => ({
  playId: `p-${Math.random()}`, scheduleId: 's', contentId: 'c', sha256: 'a'.repeat(64), url: 'http://x/c', durationMs: ms, startAt: new Date(clock.now()).toISOString(), priority: 'normal',
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tail runs on a manual clock, so each test places it exactly; plays and the board use real time. */
function setup(playMs: number, tailMs = 60) {
  const amplifier = new SerialAmplifier();
  const clock = new ManualClock();
  const player = new Player({ amplifier, sink: sink(playMs), clock, logger: silentLogger, tailMs });
  return { amplifier, clock, player };
}

describe('Player and the amplifier', () => {
  it('amp-test in the tail of a play holds the tail while it reads the board, then lets it switch off', async () => {
    const { amplifier, clock, player } = setup(20);
    await player.warmUp();
    await player.run(play(clock, 20), '/x.ogg', 80, undefined);
    const testing = player.testAmplifier();
    await sleep(1);
    clock.advance(60); // the tail falls due while the board is being read
    const { status, switched } = await testing;
    expect(status.power).toBe(true);
    expect(switched).toBe(false);
    expect(amplifier.calls).toEqual(['on']);
    clock.advance(60);
    await sleep(20);
    expect(amplifier.calls).toEqual(['on', 'off']);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test while the tail\'s switch-off is on the wire waits for it, then cycles the amplifier itself', async () => {
    const { amplifier, clock, player } = setup(20);
    await player.warmUp();
    await player.run(play(clock, 20), '/x.ogg', 80, undefined);
    clock.advance(60); // switch-off sent
    const { status, switched } = await player.testAmplifier();
    expect(status.power).toBe(true);
    expect(switched).toBe(true);
    expect(amplifier.calls).toEqual(['on', 'off', 'on', 'off']);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test during a play leaves the amplifier on for it', async () => {
    const { amplifier, clock, player } = setup(200);
    await player.warmUp();
    const playing = player.run(play(clock, 200), '/x.ogg', 80, undefined);
    await sleep(30);
    expect(await player.testAmplifier()).toMatchObject({ status: { power: true }, switched: false });
    expect(amplifier.power).toBe(true);
    expect((await playing).status).toBe('completed');
    expect(amplifier.calls).toEqual(['on']);
  });

  it('a play that warms up during an amp-test keeps the amplifier on', async () => {
    const { amplifier, clock, player } = setup(20);
    const testing = player.testAmplifier();
    await sleep(2);
    await player.warmUp();
    expect((await testing).status.power).toBe(true);
    expect(amplifier.power).toBe(true);
    await player.run(play(clock, 20), '/x.ogg', 80, undefined);
    clock.advance(60);
    await sleep(20);
    expect(amplifier.power).toBe(false);
  });

  it('amp-test of an idle amplifier switches it on, reads it and switches it off', async () => {
    const { amplifier, player } = setup(10);
    expect(await player.testAmplifier()).toEqual({ status: { power: true, faults: [], temperatureC: 31 }, switched: true });
    expect(amplifier.calls).toEqual(['on', 'off']);
    expect(amplifier.power).toBe(false);
  });
});
