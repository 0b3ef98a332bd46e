/**
 * How the outbox's sender delivers a `webhook:<id>` message: to the subscription's URL as it is
 * now, signed with its secret as it is now (a rotation re-signs what is still pending), with the
 * event's name in a header. A subscription deleted or disabled since: null, the message is dropped.
 */
import type { OutboxRoute } from '../outbox/sender.js';
import { signatureHeader } from '../outbox/signature.js';
import { WEBHOOK_CHANNEL_PREFIX } from './publisher.js';
import type { WebhookRepo } from './subscriptions.js';

export interface WebhookDeliveryOptions {
  /** One attempt's limit. */
  timeoutMs: number;
  /** After this long since the event, a message not delivered is given up ('failed'; retry by hand). */
  giveUpAfterMs: number;
}

export const DEFAULT_WEBHOOK_DELIVERY: WebhookDeliveryOptions = { timeoutMs: 10_000, giveUpAfterMs: 24 * 3600_000 };

export function webhookRoute(webhooks: Pick<WebhookRepo, 'get'>, o: WebhookDeliveryOptions = DEFAULT_WEBHOOK_DELIVERY): OutboxRoute {
  return async (channel, message, at) => {
    if (!channel.startsWith(WEBHOOK_CHANNEL_PREFIX)) return null;
    const w = await webhooks.get(channel.slice(WEBHOOK_CHANNEL_PREFIX.length));
    if (!w || !w.active) return null;
    return {
      url: w.url,
      // Lower case, as the sender writes its own: one content-type, not two.
      headers: {
        'content-type': 'application/json',
        'x-loalang-event': message.kind,
        'x-loalang-signature': signatureHeader(w.secret, message.body, at),
      },
      timeoutMs: o.timeoutMs,
      giveUpAfterMs: o.giveUpAfterMs,
    };
  };
}
