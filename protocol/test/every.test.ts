/** The repeating timer the rhythms of agent and server (telemetry, outbox resends, clock bursts, retention, sweeps) run on. */
import { describe, expect, it } from 'vitest';
import { every, ManualClock } from '@loalang/protocol';

describe('every', () => {
  it('calls on the rhythm from when it was started, until stopped', () => {
    const clock = new ManualClock(0);
    const calls: number[] = [];
    clock.advance(7);
    const r = every(clock, 100, () => calls.push(clock.now()));
    clock.advance(350);
    expect(calls).toEqual([107, 207, 307]);
    r.stop();
    clock.advance(1000);
    expect(calls).toHaveLength(3);
    expect(clock.pending).toBe(0);
  });

  it('keeps its rhythm when a call throws, as setInterval does', () => {
    const clock = new ManualClock(0);
    let n = 0;
    every(clock, 10, () => {
      n++;
      throw new Error('boom');
    });
    expect(() => clock.advance(10)).toThrow('boom');
    expect(clock.nextAt).toBe(20);
    expect(() => clock.advance(10)).toThrow('boom');
    expect(n).toBe(2);
  });

  it('stopped from inside its own call, it is not armed again', () => {
    const clock = new ManualClock(0);
    let calls = 0;
    const r = every(clock, 10, () => {
      calls++;
      r.stop();
    });
    clock.advance(100);
    expect(calls).toBe(1);
    expect(clock.pending).toBe(0);
  });
});
