import { describe, expect, it } from 'vitest';
import { DatabaseClock } from '../src/cluster/database-clock.js';

describe("a node's reading of the database server's clock", () => {
  it('is its own clock until the first reading, then the reading with the shortest round trip of the last five', () => {
    const clock = new DatabaseClock();
    expect(clock.shared(1_000)).toBe(1_000);
    // The database is 5 s behind: answered 10_000 for a query sent at 15_000 and back at 15_010.
    clock.read(10_000, 15_000, 15_010);
    expect(clock.offsetMs()).toBe(-5_005);
    // A reading that waited 800 ms for a busy pool says little: the quick one still counts.
    clock.read(12_500, 17_000, 17_800);
    expect(clock.offsetMs()).toBe(-5_005);
    // Quicker still: it counts.
    clock.read(20_000, 25_002, 25_004);
    expect(clock.offsetMs()).toBe(-5_005 + 2);
    expect(clock.shared(30_000)).toBe(30_000 - 5_003);
  });

  it('follows a step of its own clock within five readings, however quick the readings before it', () => {
    const clock = new DatabaseClock();
    clock.read(100_000, 100_000, 100_000); // in step, round trip 0
    // This node's clock steps an hour back (an NTP correction); each reading now takes 5 ms.
    for (let i = 1; i <= 4; i++) {
      clock.read(100_000 + i * 2_000, 100_000 + i * 2_000 - 3_600_000, 100_000 + i * 2_000 - 3_600_000 + 5);
      expect(clock.offsetMs()).toBe(0);
    }
    clock.read(110_000, 110_000 - 3_600_000, 110_000 - 3_600_000 + 5);
    expect(clock.offsetMs()).toBe(3_600_000 - 2); // less half the round trip, rounded
  });
});
