import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../src/turn-batch.js';
import { Limiter } from '../src/limiter.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('a batch of what arrives in one turn', () => {
  it('hands one turn\'s items over together, at most `max` at a time, each getting its own result', async () => {
    const batches: number[][] = [];
    const batch = new TurnBatch<number, string>(async (items) => {
      batches.push([...items]);
      return items.map((i) => `#${i}`);
    }, 4);
    const first = Array.from({ length: 10 }, (_, i) => batch.add(i));
    expect(await Promise.all(first)).toEqual(first.map((_, i) => `#${i}`));
    await nextTurn();
    expect(await batch.add(99)).toBe('#99');
    expect(batches).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [99]]);
  });

  it('fails every item of a batch whose handler fails, and the next batch still runs', async () => {
    let fail = true;
    const batch = new TurnBatch<number, number>((items) => {
      if (fail) throw new Error('database away');
      return Promise.resolve(items.map((i) => i * 2));
    }, 10);
    const failed = await Promise.allSettled([batch.add(1), batch.add(2)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await batch.add(3)).toBe(6);
  });
});

describe('a limit on tasks running at once', () => {
  it('runs at most `max` at once, the rest in the order they came, and frees a place when a task fails', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      most = Math.max(most, running);
      await nextTurn();
      order.push(i);
      running--;
      if (i === 1) throw new Error('refresh failed');
      return i;
    };
    const results = await Promise.allSettled(Array.from({ length: 7 }, (_, i) => limiter.run(task(i))));
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(limiter.load).toEqual({ running: 0, waiting: 0 });
  });
});
