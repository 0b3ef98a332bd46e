/** Webhooks for integrators (issue 21 item 5): subscriptions, their secret (shown once), the delivery log. */
import { Type, type Static } from '@sinclair/typebox';
import { OUTBOX_STATES, WEBHOOK_EVENTS } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const WebhookSchema = Type.Object(
  {
    id: Id,
    name: Type.String(),
    description: Type.String(),
    url: Type.String(),
    events: Type.Array(StringEnum(WEBHOOK_EVENTS)),
    areaId: Type.String({ description: 'events of this area and the areas below it are sent' }),
    active: Type.Boolean(),
    createdBy: Nullable(Type.String()),
    createdAt: Instant,
    updatedAt: Instant,
  },
  { description: 'A webhook subscription: signed POSTs of the chosen events to an integrator' },
);
export type Webhook = Static<typeof WebhookSchema>;

/** POST /webhooks and POST /webhooks/:id/rotate-secret: the secret, shown this once. */
export const WebhookSecretSchema = Type.Object({
  webhook: WebhookSchema,
  secret: Type.String({ description: 'verifies X-LoaLang-Signature (HMAC-SHA256); shown in this answer only' }),
});
export type WebhookSecret = Static<typeof WebhookSecretSchema>;

export const WebhookDeliverySchema = Type.Object(
  {
    id: Id,
    webhookId: Id,
    eventId: Nullable(Type.String({ description: 'the body\'s `id`, the same on every attempt' })),
    event: Type.String(),
    state: StringEnum(OUTBOX_STATES, { description: 'failed: given up after retries; dropped: the webhook was disabled or deleted' }),
    attempts: Type.Integer(),
    lastStatus: Nullable(Type.Integer({ description: 'HTTP status of the last attempt' })),
    lastError: Nullable(Type.String()),
    createdAt: Instant,
    lastAttemptAt: Nullable(Instant),
    nextAttemptAt: Nullable(Instant),
    deliveredAt: Nullable(Instant),
  },
  { description: 'One event sent to one webhook: its attempts and outcome' },
);
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>;
