/**
 * The rules of webhook subscriptions (issue 21 item 5): an administrator manages them inside
 * their own areas; a subscription hears only of events in its area's subtree. The secret is in
 * the answers of create and rotate only. The delivery log is the outbox's messages of the
 * subscription's channel; a failed (given up) or dropped one may be sent again.
 */
import { newId } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import { assertInScope, type Caller } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import type { OutboxMessage, OutboxRepo, OutboxState } from '../outbox/outbox.js';
import { PING_EVENT, type WebhookEventName } from './events.js';
import { WEBHOOK_CHANNEL_PREFIX, webhookChannel, type WebhookPublisher } from './publisher.js';
import { withoutSecret, type Webhook, type WebhookPatch, type WebhookRepo } from './subscriptions.js';

export interface WebhookInput {
  name: string;
  description?: string;
  url: string;
  events: WebhookEventName[];
  areaId: string;
  active?: boolean;
}

/** One delivery of one event to one subscription, as the delivery log shows it. */
export interface WebhookDelivery {
  id: string;
  webhookId: string;
  eventId: string | null;
  event: string;
  state: OutboxState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

export const MAX_DELIVERIES_PAGE = 200;

export function checkWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw brokerError('LOA_ERR_INVALID', { en: `not a URL: ${url}`, vi: `không phải địa chỉ URL: ${url}` });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw brokerError('LOA_ERR_INVALID', { en: 'a webhook URL must be http(s)', vi: 'địa chỉ webhook phải là http hoặc https' });
  // Credentials in the URL would show in every list of subscriptions: the signature authenticates us to the receiver.
  if (parsed.username || parsed.password) throw brokerError('LOA_ERR_INVALID', { en: 'a webhook URL may not hold a user name or password', vi: 'địa chỉ webhook không được chứa tên đăng nhập hoặc mật khẩu' });
  return parsed.toString();
}

function deliveryOf(m: OutboxMessage): WebhookDelivery {
  let eventId: string | null = null;
  try {
    const body = JSON.parse(m.body) as { id?: unknown };
    if (typeof body.id === 'string') eventId = body.id;
  } catch {
    // A body that is not ours: shown without its event id.
  }
  return {
    id: m.id,
    webhookId: m.channel.slice(WEBHOOK_CHANNEL_PREFIX.length),
    eventId,
    event: m.kind,
    state: m.state,
    attempts: m.attempts,
    lastStatus: m.lastStatus,
    lastError: m.lastError,
    createdAt: m.createdAt,
    lastAttemptAt: m.lastAttemptAt,
    nextAttemptAt: m.nextAttemptAt,
    deliveredAt: m.deliveredAt,
  };
}

export class WebhookAdmin {
  constructor(
    private readonly d: {
      repo: WebhookRepo;
      areas: Pick<AreaRepo, 'require'>;
      outbox: Pick<OutboxRepo, 'list' | 'get' | 'retry' | 'hurry'>;
      publisher: WebhookPublisher;
      /** Wakes the sender after a retry. */
      kick: () => void;
      now: () => number;
    },
  ) {}

  async list(caller: Caller): Promise<Webhook[]> {
    return (await this.d.repo.list()).filter((w) => caller.scope.has(w.areaId)).map(withoutSecret);
  }

  /** A subscription inside the caller's areas (404 when unknown, 403 when outside them). */
  async visible(caller: Caller, id: string): Promise<Webhook> {
    const w = await this.d.repo.require(id);
    assertInScope(caller, w.areaId);
    return withoutSecret(w);
  }

  async create(caller: Caller, input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
    assertInScope(caller, input.areaId);
    await this.d.areas.require(input.areaId);
    const made = await this.d.repo.create({ ...input, url: checkWebhookUrl(input.url), events: this.checkEvents(input.events), createdBy: caller.serviceAccount ? null : caller.user.id });
    this.d.publisher.invalidate();
    return { webhook: withoutSecret(made), secret: made.secret };
  }

  async update(caller: Caller, id: string, patch: WebhookPatch): Promise<Webhook> {
    await this.visible(caller, id);
    const after = await this.d.repo.update(id, {
      ...patch,
      ...(patch.url !== undefined ? { url: checkWebhookUrl(patch.url) } : {}),
      ...(patch.events !== undefined ? { events: this.checkEvents(patch.events) } : {}),
    });
    this.d.publisher.invalidate();
    // A new address, or enabled again: what waits for its next attempt goes now.
    if (after.active && (patch.url !== undefined || patch.active === true)) {
      await this.d.outbox.hurry(webhookChannel(id));
      this.d.kick();
    }
    return withoutSecret(after);
  }

  /** Removed with it: nothing more is sent; messages still pending are dropped by the sender. */
  async remove(caller: Caller, id: string): Promise<void> {
    await this.visible(caller, id);
    await this.d.repo.delete(id);
    this.d.publisher.invalidate();
  }

  async rotateSecret(caller: Caller, id: string): Promise<{ webhook: Webhook; secret: string }> {
    await this.visible(caller, id);
    const after = await this.d.repo.rotateSecret(id);
    return { webhook: withoutSecret(after), secret: after.secret };
  }

  /** A `webhook.ping` to this subscription alone, queued now; its delivery shows in the log. */
  async ping(caller: Caller, id: string): Promise<WebhookDelivery> {
    const w = await this.visible(caller, id);
    if (!w.active) throw brokerError('LOA_ERR_CONFLICT', { en: 'the webhook is disabled: enable it first', vi: 'webhook đang tắt: hãy bật lại trước' });
    const at = iso(this.d.now());
    const message = await this.d.publisher.publishTo(w.id, {
      event: PING_EVENT,
      key: newId(),
      at,
      areaId: w.areaId,
      data: { webhookId: w.id, name: w.name, text: 'Kiểm tra webhook từ LoaLang / LoaLang webhook test' },
    });
    return deliveryOf(message);
  }

  /** The subscription's deliveries, newest first, a page at a time (`beforeId`: the last id of the page before). */
  async deliveries(caller: Caller, id: string, q: { limit?: number; beforeId?: string; state?: OutboxState }): Promise<WebhookDelivery[]> {
    const w = await this.visible(caller, id);
    const limit = Math.min(Math.max(q.limit ?? 50, 1), MAX_DELIVERIES_PAGE);
    const messages = await this.d.outbox.list({ channel: webhookChannel(w.id), limit, ...(q.beforeId ? { beforeId: q.beforeId } : {}), ...(q.state ? { state: q.state } : {}) });
    return messages.map(deliveryOf);
  }

  /** Sends a failed or dropped delivery again, now. */
  async retry(caller: Caller, deliveryId: string): Promise<WebhookDelivery> {
    const message = await this.d.outbox.get(deliveryId);
    if (!message || !message.channel.startsWith(WEBHOOK_CHANNEL_PREFIX)) throw brokerError('LOA_ERR_NOT_FOUND', { en: `webhook delivery ${deliveryId}`, vi: `lần gửi webhook ${deliveryId}` });
    const w = await this.visible(caller, message.channel.slice(WEBHOOK_CHANNEL_PREFIX.length));
    if (message.state !== 'failed' && message.state !== 'dropped') {
      throw brokerError('LOA_ERR_CONFLICT', { en: `only a failed or dropped delivery is sent again; this one is ${message.state}`, vi: `chỉ gửi lại lần gửi đã thất bại hoặc bị bỏ; lần này đang ở trạng thái ${message.state}` });
    }
    if (!w.active) throw brokerError('LOA_ERR_CONFLICT', { en: 'the webhook is disabled: enable it first', vi: 'webhook đang tắt: hãy bật lại trước' });
    const again = await this.d.outbox.retry(message.id);
    this.d.kick();
    return deliveryOf(again);
  }

  private checkEvents(events: WebhookEventName[]): WebhookEventName[] {
    const unique = [...new Set(events)];
    if (unique.length === 0) throw brokerError('LOA_ERR_INVALID', { en: 'choose at least one event', vi: 'hãy chọn ít nhất một sự kiện' });
    return unique;
  }
}
