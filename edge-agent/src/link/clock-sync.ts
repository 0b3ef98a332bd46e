/**
 * How far this box's clock is from the server's, measured over MQTT the way NTP does: the
 * agent sends its time t0, the server answers with when the probe arrived (t1) and when the
 * answer left (t2), the agent notes t3 on arrival. A probe's round trip is
 * (t3 − t0) − (t2 − t1) and its offset ((t1 − t0) + (t2 − t3)) / 2. On 4G, round trips vary
 * a lot and a slow one skews the offset, so the estimate is the median offset of the quarter
 * of recent probes with the smallest round trip.
 */
import { every, type Clock, type Logger, type Repeating, type TimeReply } from '@loalang/protocol';

export interface ClockProbe {
  /** Server clock minus this clock (ms). */
  offsetMs: number;
  rttMs: number;
}

/** Median offset of the fastest quarter (at least 3) of the probes; null with fewer than 3. */
export function estimateOffset(probes: ClockProbe[]): { offsetMs: number; rttMs: number; used: number } | null {
  if (probes.length < 3) return null;
  const fastest = [...probes].sort((a, b) => a.rttMs - b.rttMs).slice(0, Math.max(3, Math.ceil(probes.length / 4)));
  const offsets = fastest.map((p) => p.offsetMs).sort((a, b) => a - b);
  const mid = offsets.length >> 1;
  const offsetMs = offsets.length % 2 ? offsets[mid]! : (offsets[mid - 1]! + offsets[mid]!) / 2;
  return { offsetMs, rttMs: fastest[0]!.rttMs, used: fastest.length };
}

/**
 * Probes of the clock a speaker wants before it plays a live announcement: over a jittery 4G link
 * (±30 ms each way) the estimate from 8 is within 16 ms (p95), from 24 within 9 ms, and speakers
 * must sound within 20 ms of each other (decision 0025). One with fewer sends LIVE_CLOCK_BURST
 * when it joins a session; one connected a while has them already.
 */
export const LIVE_CLOCK_PROBES = 24;
export const LIVE_CLOCK_BURST = { probes: 16, gapMs: 40 };

export interface ClockSyncOptions {
  /** This box's clock: probes are stamped with it, and bursts and the gaps in them wait on it. */
  clock: Clock;
  send: (t0: number) => Promise<void>;
  logger: Logger;
  /** Probes per burst and the gap between them. */
  burst?: number;
  gapMs?: number;
  /** A burst this often (and on every connect). */
  everyMs?: number;
  /** Probes kept for the estimate. */
  keep?: number;
}

export class ClockSync {
  private probes: ClockProbe[] = [];
  /** Probes sent and not yet answered (t0 → how many): each takes exactly one reply. */
  private readonly pending = new Map<number, number>();
  private aheadMs: number | undefined;
  private timer: Repeating | null = null;
  private bursting = false;
  /** Stopped: a burst under way sends no further probe. */
  private stopped = false;

  constructor(private readonly o: ClockSyncOptions) {}

  start(): void {
    this.stopped = false;
    this.timer = every(this.o.clock, this.o.everyMs ?? 300_000, () => void this.burst());
  }

  stop(): void {
    this.timer?.stop();
    this.timer = null;
    this.stopped = true;
  }

  /** Sends `count` probes `gapMs` apart (by default the options'); one burst at a time. */
  async burst(count = this.o.burst ?? 8, gapMs = this.o.gapMs ?? 250): Promise<void> {
    if (this.bursting) return;
    this.bursting = true;
    try {
      for (let i = 0; i < count && !this.stopped; i++) {
        const t0 = this.o.clock.now();
        this.pending.set(t0, (this.pending.get(t0) ?? 0) + 1);
        if (this.pending.size > 64) this.pending.delete(this.pending.keys().next().value!);
        await this.o.send(t0).catch(() => undefined);
        await new Promise<void>((r) => this.o.clock.setTimeout(r, gapMs));
      }
    } finally {
      this.bursting = false;
    }
  }

  /**
   * `t3`: when the reply arrived, taken before anything else (checking its signature) ran, so
   * that work does not count as network delay.
   */
  onReply(r: TimeReply, t3 = this.o.clock.now()): void {
    // Not a probe of ours, or one already answered (a replayed reply).
    const waiting = this.pending.get(r.t0);
    if (!waiting) return;
    if (waiting > 1) this.pending.set(r.t0, waiting - 1);
    else this.pending.delete(r.t0);
    const rttMs = t3 - r.t0 - (r.t2 - r.t1);
    // A reply so late it says nothing useful.
    if (rttMs < 0 || rttMs > 10_000 || r.t0 > t3) return;
    this.probes.push({ offsetMs: (r.t1 - r.t0 + (r.t2 - t3)) / 2, rttMs });
    if (this.probes.length > (this.o.keep ?? 64)) this.probes.shift();
    const e = estimateOffset(this.probes);
    this.aheadMs = e ? Math.round(-e.offsetMs * 10) / 10 : undefined;
  }

  /** Probes the estimate is made of (at most `keep`). */
  probeCount(): number {
    return this.probes.length;
  }

  /** This clock minus the server's (ms): positive when this box is ahead; undefined before 3 probes. */
  deviceAheadMs(): number | undefined {
    return this.aheadMs;
  }
}

/**
 * The server's time as this box best knows it: its own clock minus the measured offset.
 * Plays and alerts carry instants in server time, so speakers whose clocks disagree still
 * start together (issue 5). Before the first estimate it is the box's own clock.
 */
export function serverTimeClock(clock: Clock, sync: Pick<ClockSync, 'deviceAheadMs'>): Clock {
  return {
    now: () => clock.now() - (sync.deviceAheadMs() ?? 0),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (t) => clock.clearTimeout(t),
  };
}
