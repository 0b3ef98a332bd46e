/**
 * Seals every downlink in a signed envelope (decision 0016): the active key, the server's
 * clock for the issue and expiry instants, and a sequence number that only grows, even across
 * restarts and a server clock that steps back (blocks of numbers are reserved in the database
 * before use; the counter also never falls below the clock in microseconds, so a fresh database
 * continues above what devices have seen).
 *
 * Sealing stays synchronous (every publish seals): the numbers and the keys it needs are read
 * from the database ahead of time, never while sealing.
 */
import { sql } from 'kysely';
import { DOWNLINK_TTL_MS, EnvelopeSigner, silentLogger, type Logger, type ServerKey } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { SigningKeys } from './keys.js';

const BLOCK = 1_000_000;
/** After a failed reservation, the next try waits this long (each seal would otherwise try again). */
const RETRY_MS = 1000;

interface Block {
  /** The first number of the block. */
  from: number;
  /** Its last number. */
  to: number;
}

/**
 * Downlink sequence numbers, unique across every server process sharing the database.
 *
 * Each process takes numbers from a block it reserved with one atomic statement (an upsert of
 * the single `downlink_sequence` row with `RETURNING reserved_to`, see `reserve`), so no two
 * processes ever hold the same number; the agents only require that a number is never reused.
 *
 * `next()` is synchronous and never waits for the database. It works like this:
 *  - `open()` reserves the first block before anything is signed;
 *  - when the current block has fewer than half a block (`refillAt`) numbers left, `next()`
 *    starts reserving the following block in the background (one reservation at a time) and
 *    keeps handing out numbers from the current one;
 *  - when the current block is used up, `next()` moves on to the block reserved ahead.
 * So the database is asked once per `block / 2` numbers, well before they are needed. Only if
 * half a block (500,000 messages) were signed before one reservation came back, or the database
 * failed for that long, would `next()` find nothing reserved: it then throws rather than hand out
 * a number no one reserved.
 */
export class DownlinkSequence {
  private last = 0;
  private end = 0;
  private ahead: Block | null = null;
  private reserving: Promise<void> | null = null;
  private retryAfter = 0;

  private constructor(
    private readonly db: Database,
    private readonly now: () => number,
    private readonly block: number,
    private readonly logger: Logger,
  ) {}

  /** A sequence with its first block reserved. */
  static async open(db: Database, now: () => number, options: { block?: number; logger?: Logger } = {}): Promise<DownlinkSequence> {
    const block = options.block ?? BLOCK;
    if (!Number.isSafeInteger(block) || block < 2) throw new RangeError(`downlink sequence block must be an integer >= 2 (got ${block})`);
    const sequence = new DownlinkSequence(db, now, block, options.logger ?? silentLogger);
    sequence.use(await sequence.reserve());
    return sequence;
  }

  next(): number {
    if (this.last >= this.end) {
      if (!this.ahead) throw new Error('no downlink sequence numbers reserved: the database has not answered in time');
      this.use(this.ahead);
      this.ahead = null;
    }
    this.last++;
    if (this.end - this.last < this.block / 2) this.reserveAhead();
    return this.last;
  }

  /** Resolves once no reservation is under way (for tests and an orderly stop). */
  async settled(): Promise<void> {
    while (this.reserving) await this.reserving;
  }

  private use(block: Block): void {
    this.last = block.from - 1;
    this.end = block.to;
  }

  private reserveAhead(): void {
    if (this.ahead || this.reserving || this.now() < this.retryAfter) return;
    this.reserving = this.reserve()
      .then(
        (block) => {
          this.ahead = block;
        },
        (err: unknown) => {
          this.retryAfter = this.now() + RETRY_MS;
          this.logger.error({ err }, 'reserving downlink sequence numbers failed');
        },
      )
      .finally(() => {
        this.reserving = null;
      });
  }

  /**
   * Reserves the next block: one statement, atomic in SQLite and PostgreSQL alike. It creates
   * the row if there is none, else moves `reserved_to` up by a block from where it is (or from
   * the clock in microseconds, if that is higher), and returns the new end: the block is the
   * `block` numbers below it. Two processes reserving at once get two different blocks.
   * (CASE instead of MAX/GREATEST, which the two dialects spell differently.)
   */
  private async reserve(): Promise<Block> {
    const floor = Math.floor(this.now()) * 1000;
    const row = await this.db
      .insertInto('downlink_sequence')
      .values({ id: 1, reserved_to: floor + this.block })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          reserved_to: sql<number>`CASE WHEN downlink_sequence.reserved_to > CAST(${floor} AS BIGINT) THEN downlink_sequence.reserved_to ELSE CAST(${floor} AS BIGINT) END + CAST(${this.block} AS BIGINT)`,
        }),
      )
      .returning('reserved_to')
      .executeTakeFirstOrThrow();
    const to = Number(row.reserved_to);
    return { from: to - this.block + 1, to };
  }
}

/** What the signer signs with, read from the keys ahead of time. */
interface Loaded {
  signer: EnvelopeSigner;
  trusted: ServerKey[];
}

export class DownlinkSigner {
  private loaded: Loaded | null = null;
  /** Reloads run one after another, so the last one to finish read the keys last. */
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    private readonly keys: SigningKeys,
    private readonly sequence: DownlinkSequence,
    private readonly now: () => number,
    private readonly ttlMs = DOWNLINK_TTL_MS,
  ) {}

  /**
   * Reads the active key (made on first start) and the keys devices should trust; call it once
   * before anything is sealed, and again whenever the keys change. Sealing goes on with the
   * keys read before until it resolves.
   */
  reload(): Promise<void> {
    const next = this.reloading.then(async () => {
      const { privateKeyPem } = await this.keys.active();
      const trusted = await this.keys.trusted();
      this.loaded = { signer: new EnvelopeSigner(privateKeyPem), trusted };
    });
    // A failed reload does not stop the next one.
    this.reloading = next.catch(() => undefined);
    return next;
  }

  get kid(): string {
    return this.current().signer.kid;
  }

  /** `to` is `dev/<id>` or `area/<id>`, the topic the envelope is published on. */
  seal(kind: string, to: string, body: unknown): Buffer {
    const iat = this.now();
    return this.current().signer.seal({ kind, to, iat, exp: iat + this.ttlMs, seq: this.sequence.next(), body });
  }

  /** Signs a live frame group's bytes with the active key (protocol's live.ts: its prefix keeps them apart from envelopes). */
  signBytes(data: Buffer): Buffer {
    return this.current().signer.signBytes(data);
  }

  /** The keys devices should trust (every desired state carries them), as last reloaded. */
  trusted(): ServerKey[] {
    return this.current().trusted;
  }

  private current(): Loaded {
    if (!this.loaded) throw new Error('the downlink signer has not read its keys yet: await reload() first');
    return this.loaded;
  }
}
