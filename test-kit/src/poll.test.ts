import { describe, expect, it } from 'vitest';
import { until, untilWithin } from './poll.js';

describe('until', () => {
  it('returns the first truthy value of the condition, sync or async', async () => {
    let n = 0;
    expect(await until('n reaches 3', () => ++n >= 3 && n, { intervalMs: 1 })).toBe(3);
    expect(await until('an answer', async () => ({ ok: true }))).toEqual({ ok: true });
  });

  it('fails saying what it waited for and how long', async () => {
    await expect(until('the moon', () => false, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow('timed out after 30 ms waiting for the moon');
    await expect(until('the sun', () => null, 20)).rejects.toThrow('timed out after 20 ms waiting for the sun');
  });

  it('untilWithin sets the defaults, a call may still override them', async () => {
    const quick = untilWithin({ timeoutMs: 20, intervalMs: 5 });
    await expect(quick('nothing', () => 0)).rejects.toThrow('timed out after 20 ms waiting for nothing');
    await expect(quick('nothing', () => '', 40)).rejects.toThrow('timed out after 40 ms waiting for nothing');
  });
});
