/**
 * Seals every downlink in a signed envelope (decision 0016): the active key, the server's
 * clock for the issue and expiry instants, and a sequence number that only grows, even across
 * restarts and a server clock that steps back (blocks of numbers are reserved in SQLite before
 * use; the counter also never falls below the clock in microseconds, so a fresh database
 * continues above what devices have seen).
 */
import { DOWNLINK_TTL_MS, EnvelopeSigner, type ServerKey } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import type { SigningKeys } from './keys.js';

const BLOCK = 1_000_000;

export class DownlinkSequence {
  private last: number;
  private reservedTo: number;

  constructor(
    private readonly db: Db,
    now: () => number,
  ) {
    const row = db.prepare('SELECT reserved_to FROM downlink_sequence WHERE id = 1').get() as { reserved_to: number } | undefined;
    this.last = Math.max(row?.reserved_to ?? 0, Math.floor(now()) * 1000);
    this.reservedTo = this.last;
  }

  next(): number {
    this.last++;
    if (this.last > this.reservedTo) {
      this.reservedTo = this.last + BLOCK;
      this.db.prepare('INSERT INTO downlink_sequence (id, reserved_to) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET reserved_to = excluded.reserved_to').run(this.reservedTo);
    }
    return this.last;
  }
}

export class DownlinkSigner {
  private signer: EnvelopeSigner | null = null;
  /** The keys devices should trust, read once per key change (every desired state carries them). */
  private trustedKeys: ServerKey[] | null = null;

  constructor(
    private readonly keys: SigningKeys,
    private readonly sequence: DownlinkSequence,
    private readonly now: () => number,
    private readonly ttlMs = DOWNLINK_TTL_MS,
  ) {}

  /** The keys changed: sign with the active key, and list the trusted ones, as they are now. */
  reload(): void {
    this.signer = null;
    this.trustedKeys = null;
  }

  get kid(): string {
    return this.current().kid;
  }

  /** `to` is `dev/<id>` or `area/<id>`, the topic the envelope is published on. */
  seal(kind: string, to: string, body: unknown): Buffer {
    const iat = this.now();
    return this.current().seal({ kind, to, iat, exp: iat + this.ttlMs, seq: this.sequence.next(), body });
  }

  trusted(): ServerKey[] {
    this.trustedKeys ??= this.keys.trusted();
    return this.trustedKeys;
  }

  private current(): EnvelopeSigner {
    if (!this.signer) this.signer = new EnvelopeSigner(this.keys.active().privateKeyPem);
    return this.signer;
  }
}
