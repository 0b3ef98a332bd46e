/**
 * This node's reading of the database server's clock (issue 17): one clock for every node of a
 * cluster, whatever their own say. Nodes compare instants that each stamped itself (which of two
 * connections of a device is the newer), so they must stamp them on one clock.
 *
 * Each heartbeat reads the database's time; the offset from this node's clock is that time less
 * the middle of the round trip, off by at most half the round trip. Of the last few readings the
 * one with the shortest round trip counts (as NTP picks its samples): a reading that waited for
 * a busy pool says little. Few, so that a step of this node's clock (an NTP correction) is
 * followed within seconds.
 */

/** Readings kept: with a heartbeat every 2 s, the last 10 s. */
const READINGS = 5;

interface Reading {
  offsetMs: number;
  roundTripMs: number;
}

export class DatabaseClock {
  private readings: Reading[] = [];

  /** One reading: the database said `databaseMs` for a query sent at `sentMs` and answered at `backMs` (this node's clock). */
  read(databaseMs: number, sentMs: number, backMs: number): void {
    const roundTripMs = Math.max(0, backMs - sentMs);
    this.readings.push({ offsetMs: databaseMs - (sentMs + roundTripMs / 2), roundTripMs });
    if (this.readings.length > READINGS) this.readings.shift();
  }

  /** The database's clock minus this node's, in ms (0 before any reading). */
  offsetMs(): number {
    let best: Reading | undefined;
    for (const r of this.readings) if (!best || r.roundTripMs < best.roundTripMs) best = r;
    return best ? Math.round(best.offsetMs) : 0;
  }

  /** The same instant as `localMs` (this node's clock), on the database's clock. */
  shared(localMs: number): number {
    return localMs + this.offsetMs();
  }
}
