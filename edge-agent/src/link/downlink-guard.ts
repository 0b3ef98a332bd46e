/**
 * The agent's check of every downlink (decision 0016): it must be an envelope signed by a key
 * the box trusts, addressed to this box (or an area it listens to) as that kind of message,
 * issued and not expired by the server's time as this box measures it, and not one the box
 * has already taken. Anything else is refused with a reason the agent reports.
 */
import { parseEnvelope, signatureValid, type RefusalReason, type ServerKey, type SignedEnvelope } from '@loalang/protocol';

/** How far issue and expiry instants may be off the measured server time (4G delays, clock error). */
export const CLOCK_TOLERANCE_MS = 5_000;
/** Most accepted messages remembered at once (the server sends a handful per expiry period). */
export const MAX_REMEMBERED = 4096;

export type GuardResult =
  | { ok: true; body: unknown; envelope: SignedEnvelope }
  | { ok: false; reason: RefusalReason; detail: string; hold: boolean; seq?: number; kid?: string };

/** An accepted message's sequence number and expiry: remembered until it could no longer pass. */
export type Seen = [seq: number, exp: number];

export interface GuardState {
  trustedKeys(): ServerKey[];
  seen(): Seen[];
  saveSeen(seen: Seen[]): void;
}

export interface GuardOptions {
  state: GuardState;
  /** Server time as this box best knows it (its clock minus the measured offset). */
  serverNow: () => number;
  /** Whether the offset has been measured yet: before, a message that fails only on time is held. */
  clockKnown: () => boolean;
}

export class DownlinkGuard {
  /** Sequence numbers taken and not yet expired, with their expiry. */
  private readonly seen: Map<number, number>;
  private saving = false;

  constructor(private readonly o: GuardOptions) {
    this.seen = new Map(o.state.seen());
  }

  /**
   * `to` is what the topic says (`dev/<id>` or `area/<id>`). `mayHold`: a time failure before
   * the clock is measured asks the caller to hold the message and check again after.
   */
  check(kind: string, to: string, payload: Buffer, mayHold = true): GuardResult {
    const parsed = parseEnvelope(payload);
    if (!parsed.ok) {
      return isUnsigned(payload) ? refuse('unsigned', 'the message carries no signature') : refuse('invalid', `not a signed envelope: ${parsed.reason}`);
    }
    const e = parsed.value;
    const ids = { seq: e.seq, kid: e.kid };
    const key = this.o.state.trustedKeys().find((k) => k.kid === e.kid);
    if (!key) return refuse('unknown-key', `signed by key ${e.kid}, which this device does not trust`, ids);
    if (!signatureValid(e, key.publicKey)) return refuse('bad-signature', 'the signature does not match the message (changed or forged)', ids);
    if (e.kind !== kind || e.to !== to) return refuse('wrong-recipient', `signed as ${e.kind} for ${e.to}, received as ${kind} for ${to}`, ids);
    // A time reply is its own proof of freshness (it echoes the probe's t0) and is what
    // measures the clock, so it cannot wait for it.
    if (kind !== 'time/reply') {
      const now = this.o.serverNow();
      const late = now > e.exp + CLOCK_TOLERANCE_MS;
      const early = e.iat > now + CLOCK_TOLERANCE_MS;
      if (late || early) {
        const hold = mayHold && !this.o.clockKnown();
        const off = late ? now - e.exp : e.iat - now;
        return refuse(late ? 'expired' : 'not-yet-valid', `${late ? 'expired' : 'issued'} ${Math.round(off / 1000)} s ${late ? 'ago' : 'in the future'} by this device's measure of server time`, { ...ids, hold });
      }
    }
    // A time reply is taken once per probe by the clock sync itself, and must not wait for a
    // disk write: its arrival time is the measurement.
    if (kind === 'time/reply') return { ok: true, body: e.body, envelope: e };
    // Every message expires, so remembering those taken until they expire is enough to refuse
    // any replay, in whatever order messages arrive (held ones, QoS 0 beside QoS 1).
    if (this.seen.has(e.seq)) return refuse('replayed', `sequence ${e.seq} was already taken`, ids);
    this.remember(e.seq, e.exp);
    return { ok: true, body: e.body, envelope: e };
  }

  private remember(seq: number, exp: number): void {
    const now = this.o.serverNow();
    for (const [s, x] of this.seen) if (now > x + CLOCK_TOLERANCE_MS) this.seen.delete(s);
    this.seen.set(seq, exp);
    if (this.seen.size > MAX_REMEMBERED) {
      const soonest = [...this.seen].sort((a, b) => a[1] - b[1]).slice(0, this.seen.size - MAX_REMEMBERED);
      for (const [s] of soonest) this.seen.delete(s);
    }
    // Saved once per turn of the event loop, after the message has been acted on: an alert
    // does not wait for the SD card.
    if (!this.saving) {
      this.saving = true;
      setImmediate(() => {
        this.saving = false;
        this.o.state.saveSeen([...this.seen]);
      });
    }
  }
}

function refuse(reason: RefusalReason, detail: string, extra: { seq?: number; kid?: string; hold?: boolean } = {}): GuardResult {
  return { ok: false, reason, detail, hold: extra.hold ?? false, ...(extra.seq !== undefined ? { seq: extra.seq } : {}), ...(extra.kid !== undefined ? { kid: extra.kid } : {}) };
}

/** Plain JSON without a signature: what an old server, or someone faking one, would send. */
function isUnsigned(payload: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return typeof v === 'object' && v !== null && !('sig' in v);
  } catch {
    return false;
  }
}
