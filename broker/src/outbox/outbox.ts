/**
 * What the server owes other systems (issue 21: the province's HTTTN, integrators' webhooks),
 * stored until it is delivered (decision 0030). A message belongs to a channel (`upstream`,
 * `webhook:<id>`); each channel is delivered in the order it was written. A `dedupeKey` makes
 * writing the same thing twice a no-op (an event relayed twice, a report already queued).
 *
 * States: `pending` (waiting for its turn or its next attempt), `delivered`, `failed` (given up
 * after the channel's limit, kept for a person to retry) and `dropped` (its channel no longer
 * exists: a deleted webhook).
 */
import { sql, type Selectable } from 'kysely';
import { newId } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { OutboxTable } from '../store/schema.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import { allOf } from '../store/portable.js';

export const OUTBOX_STATES = ['pending', 'delivered', 'failed', 'dropped'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

export interface OutboxMessage {
  id: string;
  channel: string;
  kind: string;
  dedupeKey: string | null;
  body: string;
  state: OutboxState;
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  /** When a person last sent it again after it was given up: its give-up time counts from then. */
  retriedAt: string | null;
  deliveredAt: string | null;
}

export interface NewOutboxMessage {
  channel: string;
  kind: string;
  body: string;
  dedupeKey?: string;
}

export interface OutboxQuery {
  channel?: string;
  channelPrefix?: string;
  state?: OutboxState;
  kind?: string;
  limit?: number;
  /** Paging: messages written before this one. */
  beforeId?: string;
}

type Row = Selectable<OutboxTable>;

const toMessage = (r: Row): OutboxMessage => ({
  id: r.id,
  channel: r.channel,
  kind: r.kind,
  dedupeKey: r.dedupe_key,
  body: r.body,
  state: r.state as OutboxState,
  attempts: Number(r.attempts),
  nextAttemptAt: r.next_attempt_at,
  lastAttemptAt: r.last_attempt_at,
  lastStatus: r.last_status === null ? null : Number(r.last_status),
  lastError: r.last_error,
  createdAt: r.created_at,
  retriedAt: r.retried_at,
  deliveredAt: r.delivered_at,
});

/** An error text is kept to this length: a receiver's HTML error page is not worth storing whole. */
const ERROR_CHARS = 300;
const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class OutboxRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes a message, due at once; with a `dedupeKey` already written on its channel, returns that one instead. */
  async enqueue(m: NewOutboxMessage): Promise<{ message: OutboxMessage; created: boolean }> {
    const at = iso(this.now());
    const id = newId();
    const inserted = await this.db
      .insertInto('outbox')
      .values({ id, channel: m.channel, kind: m.kind, dedupe_key: m.dedupeKey ?? null, body: m.body, state: 'pending', next_attempt_at: at, created_at: at })
      .onConflict((oc) => oc.columns(['channel', 'dedupe_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { message: toMessage(inserted), created: true };
    const existing = await this.db.selectFrom('outbox').selectAll().where('channel', '=', m.channel).where('dedupe_key', '=', m.dedupeKey ?? null).executeTakeFirstOrThrow();
    return { message: toMessage(existing), created: false };
  }

  async get(id: string): Promise<OutboxMessage | null> {
    const row = await this.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toMessage(row) : null;
  }

  /** Newest first. */
  async list(q: OutboxQuery = {}): Promise<OutboxMessage[]> {
    const parts = [];
    if (q.channel !== undefined) parts.push(sql<boolean>`channel = ${q.channel}`);
    if (q.channelPrefix !== undefined) parts.push(sql<boolean>`channel LIKE ${likePrefix(q.channelPrefix)} ESCAPE '\\'`);
    if (q.state) parts.push(sql<boolean>`state = ${q.state}`);
    if (q.kind) parts.push(sql<boolean>`kind = ${q.kind}`);
    if (q.beforeId) parts.push(sql<boolean>`seq < (SELECT seq FROM outbox WHERE id = ${q.beforeId})`);
    const rows = await this.db
      .selectFrom('outbox')
      .selectAll()
      .where(allOf(parts))
      .orderBy('seq', 'desc')
      .limit(Math.min(Math.max(q.limit ?? 100, 1), 1000))
      .execute();
    return rows.map(toMessage);
  }

  /** How many messages each channel (under a prefix) holds in each state. */
  async counts(channelPrefix = ''): Promise<Record<string, Partial<Record<OutboxState, number>>>> {
    const rows = await this.db
      .selectFrom('outbox')
      .select(['channel', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .where(sql<boolean>`channel LIKE ${likePrefix(channelPrefix)} ESCAPE '\\'`)
      .groupBy(['channel', 'state'])
      .execute();
    const out: Record<string, Partial<Record<OutboxState, number>>> = {};
    for (const r of rows) (out[r.channel] ??= {})[r.state as OutboxState] = Number(r.n);
    return out;
  }

  /** The dedupe key of the latest message of a channel whose key starts with `prefix`. */
  async latestDedupeKey(channel: string, prefix: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('outbox')
      .select('dedupe_key')
      .where('channel', '=', channel)
      .where(sql<boolean>`dedupe_key LIKE ${likePrefix(prefix)} ESCAPE '\\'`)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.dedupe_key ?? null;
  }

  /** The oldest pending message of a channel, if any. */
  async oldestPending(channel: string): Promise<OutboxMessage | null> {
    return (await this.nextPending(channel, 1))[0] ?? null;
  }

  /** The channel's `limit` oldest pending messages, in the order they were written. */
  async nextPending(channel: string, limit: number): Promise<OutboxMessage[]> {
    const rows = await this.db.selectFrom('outbox').selectAll().where('channel', '=', channel).where('state', '=', 'pending').orderBy('seq').limit(limit).execute();
    return rows.map(toMessage);
  }

  /**
   * The channels whose oldest pending message is due at `at`: each channel waits on its head,
   * so a message is never sent before one written earlier on its channel.
   */
  async dueChannels(at: number, limit = 100): Promise<string[]> {
    const rows = await sql<{ channel: string }>`SELECT o.channel FROM outbox o
      WHERE o.seq IN (SELECT MIN(seq) FROM outbox WHERE state = 'pending' GROUP BY channel)
        AND o.next_attempt_at <= ${iso(at)}
      ORDER BY o.seq LIMIT ${limit}`.execute(this.db);
    return rows.rows.map((r) => r.channel);
  }

  async markDelivered(id: string, status: number, at: number): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set((eb) => ({ state: 'delivered', attempts: eb('attempts', '+', 1), last_attempt_at: iso(at), delivered_at: iso(at), last_status: status, last_error: null, next_attempt_at: null }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .execute();
  }

  /** An attempt failed: the message waits until `nextAt`, or, with `nextAt` null, is given up (`failed`). */
  async markAttemptFailed(id: string, failure: { status: number | null; error: string }, at: number, nextAt: number | null): Promise<void> {
    await this.db
      .updateTable('outbox')
      .set((eb) => ({
        state: nextAt === null ? 'failed' : 'pending',
        attempts: eb('attempts', '+', 1),
        last_attempt_at: iso(at),
        last_status: failure.status,
        last_error: failure.error.slice(0, ERROR_CHARS),
        next_attempt_at: nextAt === null ? null : iso(nextAt),
      }))
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .execute();
  }

  async markDropped(id: string, reason: string, at: number): Promise<void> {
    await this.db.updateTable('outbox').set({ state: 'dropped', last_attempt_at: iso(at), last_error: reason.slice(0, ERROR_CHARS), next_attempt_at: null }).where('id', '=', id).where('state', '=', 'pending').execute();
  }

  /** A failed or dropped message is sent again, due at once, its attempts counted on and its give-up time counted from now. */
  async retry(id: string): Promise<OutboxMessage> {
    const message = await this.get(id);
    if (!message) throw brokerError('LOA_ERR_NOT_FOUND', { en: `delivery ${id}`, vi: `lần gửi ${id}` });
    if (message.state === 'pending') return message;
    if (message.state === 'delivered') {
      throw brokerError('LOA_ERR_CONFLICT', { en: 'this message was delivered; it is not sent again', vi: 'tin này đã được gửi thành công; không gửi lại' });
    }
    const at = iso(this.now());
    await this.db.updateTable('outbox').set({ state: 'pending', next_attempt_at: at, retried_at: at }).where('id', '=', id).execute();
    return (await this.get(id))!;
  }

  /** Every pending message of a channel due at once (its receiver is back, or was reconfigured). */
  async hurry(channel: string): Promise<number> {
    const r = await this.db.updateTable('outbox').set({ next_attempt_at: iso(this.now()) }).where('channel', '=', channel).where('state', '=', 'pending').executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Removes delivered and dropped messages written before `before` (failed ones stay for a person). */
  async prune(before: number): Promise<number> {
    const r = await this.db.deleteFrom('outbox').where('state', 'in', ['delivered', 'dropped']).where('created_at', '<', iso(before)).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
