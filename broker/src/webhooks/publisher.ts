/**
 * Addresses an event to the subscriptions that want it and puts one message per subscription in
 * the outbox (channel `webhook:<id>`), keyed by the event's id, so an event seen twice (a
 * replayed report, two nodes writing one change) is enqueued once per subscription. Called on
 * the node where the event happened, never for events relayed from other nodes.
 *
 * The enqueue follows the event's own commit, not inside its transaction: a process killed in
 * between loses that one event for the integrators (the record itself is kept).
 */
import type { Logger } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { OutboxMessage, OutboxRepo } from '../outbox/outbox.js';
import { envelopeOf, type WebhookEvent } from './events.js';
import type { WebhookRepo, WebhookWithSecret } from './subscriptions.js';

export const WEBHOOK_CHANNEL_PREFIX = 'webhook:';
export const webhookChannel = (webhookId: string) => `${WEBHOOK_CHANNEL_PREFIX}${webhookId}`;

/**
 * The active subscriptions are read again at most this often: an alert to 10,000 speakers makes
 * 10,000 delivery events, which must not make 10,000 reads of the same rows. A change made here
 * is seen at once (invalidate); one made on another node of a cluster within this time.
 */
export const SUBSCRIPTIONS_CACHE_MS = 2000;

export interface WebhookPublisherDeps {
  webhooks: Pick<WebhookRepo, 'listActive'>;
  areas: Pick<AreaRepo, 'ancestorIds'>;
  outbox: Pick<OutboxRepo, 'enqueue'>;
  /** Wakes the sender (on the leader; elsewhere the leader finds the messages on its own). */
  kick: () => void;
  now: () => number;
  logger: Logger;
}

export class WebhookPublisher {
  private cache: { at: number; list: Promise<WebhookWithSecret[]> } | null = null;

  constructor(private readonly d: WebhookPublisherDeps) {}

  /** Forget the subscriptions read: one was made, changed or removed. */
  invalidate(): void {
    this.cache = null;
  }

  /** Enqueues the event for every active subscription that wants it and whose area holds the event's; returns how many messages were new. */
  async publish(e: WebhookEvent): Promise<number> {
    const wanting = (await this.active()).filter((w) => (w.events as string[]).includes(e.event));
    if (wanting.length === 0) return 0;
    const chain = new Set(await this.d.areas.ancestorIds(e.areaId));
    let created = 0;
    for (const w of wanting.filter((s) => chain.has(s.areaId))) if ((await this.enqueue(w.id, e)).created) created++;
    if (created > 0) this.d.kick();
    return created;
  }

  /** The event for one subscription only (a ping), whatever it subscribed to. */
  async publishTo(webhookId: string, e: WebhookEvent): Promise<OutboxMessage> {
    const { message } = await this.enqueue(webhookId, e);
    this.d.kick();
    return message;
  }

  /** `publish`, for event handlers: never rejects, logs what failed. */
  notify(what: string, make: () => Promise<WebhookEvent | null>): void {
    void make()
      .then((e) => (e ? this.publish(e) : 0))
      .catch((err: unknown) => this.d.logger.error({ err, what }, 'webhook event not enqueued'));
  }

  private enqueue(webhookId: string, e: WebhookEvent): ReturnType<OutboxRepo['enqueue']> {
    const envelope = envelopeOf(e);
    return this.d.outbox.enqueue({ channel: webhookChannel(webhookId), kind: e.event, body: JSON.stringify(envelope), dedupeKey: envelope.id });
  }

  private active(): Promise<WebhookWithSecret[]> {
    const now = this.d.now();
    if (!this.cache || now - this.cache.at >= SUBSCRIPTIONS_CACHE_MS) {
      const list = this.d.webhooks.listActive();
      this.cache = { at: now, list };
      // A failed read is not kept: the next event reads again.
      list.catch(() => {
        if (this.cache?.list === list) this.cache = null;
      });
    }
    return this.cache.list;
  }
}
