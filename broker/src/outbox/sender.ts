/**
 * Sends the outbox (decision 0030), on the cluster's leader only: each channel's pending
 * messages oldest first, one at a time, as an HTTP POST of the stored body. A 2xx delivers it;
 * anything else (a refused connection, a timeout, a 5xx, a 4xx) waits and is tried again, the
 * wait doubling from `baseMs` to `maxMs`, and the channel waits with it, so nothing overtakes
 * it. A channel may set a time after which a message is given up (`failed`, kept for a person
 * to retry); the upstream channel never gives up.
 *
 * Each request carries `X-LoaLang-Delivery` and `Idempotency-Key`, the message's id, the same on
 * every attempt: a receiver that answered but whose answer was lost sees the retry's id again
 * and keeps the first (at-least-once delivery, exactly-once effect on a receiver that dedupes).
 */
import { every, type Clock, type Logger, type Repeating } from '@loalang/protocol';
import type { OutboxMessage, OutboxRepo } from './outbox.js';

/** Where and how a channel's messages go; resolved at send time (a rotated secret signs at once). */
export interface OutboxTarget {
  url: string;
  headers: Record<string, string>;
  timeoutMs?: number;
  /** After this long since it was written a message is given up (`failed`); null: never. */
  giveUpAfterMs?: number | null;
}

/** The target of a channel's message; null: the channel is gone and the message is dropped. */
export type OutboxRoute = (channel: string, message: OutboxMessage, at: number) => Promise<OutboxTarget | null>;

/** The HTTP edge: one POST, its status and the start of its answer. */
export type OutboxPost = (url: string, init: { headers: Record<string, string>; body: string; timeoutMs: number }) => Promise<{ status: number; text: string }>;

export const fetchPost: OutboxPost = async (url, init) => {
  // Redirects are not followed: a receiver's address is what was configured, nothing else.
  const res = await fetch(url, { method: 'POST', headers: init.headers, body: init.body, redirect: 'manual', signal: AbortSignal.timeout(init.timeoutMs) });
  const text = (await res.text().catch(() => '')).slice(0, 200);
  return { status: res.status, text };
};

export interface OutboxSenderOptions {
  /** How often the leader looks for due messages written on other nodes (this node's are sent at once). */
  pollMs: number;
  /** The first retry's wait, doubled on each failure up to `maxMs`. */
  baseMs: number;
  maxMs: number;
  timeoutMs: number;
  /** Channels sent side by side. */
  parallel: number;
  /** Messages one channel sends in one pass before others get their turn. */
  perPass: number;
}

export const DEFAULT_OUTBOX_OPTIONS: OutboxSenderOptions = { pollMs: 2000, baseMs: 5000, maxMs: 3600_000, timeoutMs: 10_000, parallel: 4, perPass: 100 };

/** Messages of one channel read at once. */
const READ_BATCH = 50;

export interface OutboxSenderDeps {
  repo: OutboxRepo;
  clock: Clock;
  logger: Logger;
  post?: OutboxPost;
}

/** The wait before attempt `attempts + 1`, after `attempts` failures (at least one). */
export function retryDelay(attempts: number, o: Pick<OutboxSenderOptions, 'baseMs' | 'maxMs'>): number {
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
}

export class OutboxSender {
  private readonly routes: [prefix: string, resolve: OutboxRoute][] = [];
  private readonly o: OutboxSenderOptions;
  private readonly post: OutboxPost;
  private poller: Repeating | null = null;
  private pass: Promise<void> | null = null;
  private again = false;
  private running = false;

  constructor(
    private readonly d: OutboxSenderDeps,
    options: Partial<OutboxSenderOptions> = {},
  ) {
    this.o = { ...DEFAULT_OUTBOX_OPTIONS, ...options };
    this.post = d.post ?? fetchPost;
  }

  /** Messages of channels starting with `prefix` go where `resolve` says (the longest prefix wins). */
  route(prefix: string, resolve: OutboxRoute): void {
    this.routes.push([prefix, resolve]);
    this.routes.sort((a, b) => b[0].length - a[0].length);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.poller = every(this.d.clock, this.o.pollMs, () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.poller?.stop();
    this.poller = null;
    await this.pass;
  }

  /** Sends what is due now (a message was just written); a pass under way runs once more after. */
  kick(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.sendDue()
      .catch((err: unknown) => this.d.logger.error({ err }, 'outbox: a pass failed (the database?); tried again at the next poll'))
      .finally(() => {
        this.pass = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Resolves once no pass is running (tests, and stopping). */
  async idle(): Promise<void> {
    while (this.pass) await this.pass;
  }

  private async sendDue(): Promise<void> {
    const channels = await this.d.repo.dueChannels(this.d.clock.now());
    let next = 0;
    const worker = async () => {
      while (this.running && next < channels.length) await this.sendChannel(channels[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.o.parallel, channels.length) }, worker));
  }

  /**
   * Sends the channel's due messages, oldest first, reading them a batch at a time. A message is
   * sent while the one before it is being marked delivered (a write that waits for the disk), so
   * a backlog drains at the pace of the slower of the two, not of both one after the other.
   */
  private async sendChannel(channel: string): Promise<void> {
    let marking: Promise<void> | null = null;
    try {
      for (let sent = 0; this.running && sent < this.o.perPass; ) {
        // What is being marked must be marked before the next batch is read, or it would be read again.
        await marking;
        marking = null;
        const batch = await this.d.repo.nextPending(channel, Math.min(READ_BATCH, this.o.perPass - sent));
        if (batch.length === 0) return;
        for (const message of batch) {
          if (!this.running || Date.parse(message.nextAttemptAt ?? message.createdAt) > this.d.clock.now()) return;
          const { next, mark } = await this.deliver(message);
          const previous = marking; // the previous message's mark, which ran beside this send
          marking = mark;
          await previous;
          sent++;
          if (!next) return;
        }
      }
      this.again = true; // more is due on this channel: another pass, after the others had theirs
    } finally {
      await marking;
    }
  }

  /**
   * One attempt. `next`: whether the channel may go on to its next message; `mark`: marking it
   * delivered, under way (the caller awaits it before reading the channel again).
   */
  private async deliver(m: OutboxMessage): Promise<{ next: boolean; mark: Promise<void> | null }> {
    const at = this.d.clock.now();
    const resolve = this.routes.find(([prefix]) => m.channel.startsWith(prefix))?.[1];
    let target: OutboxTarget | null;
    try {
      target = resolve ? await resolve(m.channel, m, at) : null;
    } catch (err) {
      // The channel's settings could not be read (the database?): the message waits.
      await this.d.repo.markAttemptFailed(m.id, { status: null, error: `not sent: ${(err as Error).message}` }, at, at + retryDelay(m.attempts + 1, this.o));
      return { next: false, mark: null };
    }
    if (!target) {
      await this.d.repo.markDropped(m.id, `channel ${m.channel} no longer exists`, at);
      return { next: true, mark: null };
    }
    const headers = { 'content-type': 'application/json', ...target.headers, 'x-loalang-delivery': m.id, 'idempotency-key': m.id };
    let failure: { status: number | null; error: string };
    try {
      const res = await this.post(target.url, { headers, body: m.body, timeoutMs: target.timeoutMs ?? this.o.timeoutMs });
      if (res.status >= 200 && res.status < 300) {
        const mark = this.d.repo.markDelivered(m.id, res.status, this.d.clock.now());
        mark.catch(() => undefined); // awaited by the caller, but it may fail before: not an unhandled rejection
        return { next: true, mark };
      }
      failure = { status: res.status, error: `HTTP ${res.status}${res.text ? `: ${res.text}` : ''}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const cause = e.cause ? [e.cause.code, e.cause.message].filter(Boolean).join(': ') : '';
      failure = { status: null, error: cause || e.message };
    }
    const now = this.d.clock.now();
    const giveUp = target.giveUpAfterMs != null && now - Date.parse(m.retriedAt ?? m.createdAt) >= target.giveUpAfterMs;
    await this.d.repo.markAttemptFailed(m.id, failure, now, giveUp ? null : now + retryDelay(m.attempts + 1, this.o));
    const log = { channel: m.channel, kind: m.kind, delivery: m.id, attempts: m.attempts + 1, error: failure.error };
    if (giveUp) this.d.logger.error(log, 'outbox: message given up after its channel\'s limit; it can be retried by hand');
    else this.d.logger.warn(log, 'outbox: delivery failed; it will be tried again');
    return { next: giveUp, mark: null };
  }
}
