/** Answers of the integration routes (issue 21): the outbox's messages and the upstream connector. */
import { Type, type Static } from '@sinclair/typebox';
import { OUTBOX_STATES, RECORD_KINDS } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

/** One message of the outbox, as delivery logs show it (its body only where asked for). */
export const OutboxMessageSchema = Type.Object({
  id: Id,
  channel: Type.String(),
  kind: Type.String(),
  state: StringEnum(OUTBOX_STATES),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Instant),
  lastAttemptAt: Nullable(Instant),
  lastStatus: Nullable(Type.Integer({ description: 'the HTTP status of the last attempt; null when it got no answer' })),
  lastError: Nullable(Type.String()),
  createdAt: Instant,
  deliveredAt: Nullable(Instant),
  bytes: Type.Integer({ description: 'the size of the body sent' }),
});
export type OutboxMessageView = Static<typeof OutboxMessageSchema>;

export const OutboxMessageWithBodySchema = Type.Composite([OutboxMessageSchema, Type.Object({ body: Type.String() })]);

const CountsSchema = Type.Partial(Type.Object({ pending: Type.Integer(), delivered: Type.Integer(), failed: Type.Integer(), dropped: Type.Integer() }), { description: 'messages in each state' });

export const UpstreamStatusSchema = Type.Object({
  enabled: Type.Boolean(),
  url: Nullable(Type.String()),
  mapping: Nullable(Type.String({ description: 'name@revision of the mapping in use' })),
  kinds: Type.Array(StringEnum(RECORD_KINDS)),
  everyMinutes: Nullable(Type.Integer()),
  counts: CountsSchema,
  oldestPendingAt: Nullable(Instant),
  lastError: Nullable(Type.String()),
  lastDeliveredAt: Nullable(Instant),
});
export type UpstreamStatusView = Static<typeof UpstreamStatusSchema>;

export const UpstreamPushSchema = Type.Object({
  outcomes: Type.Array(
    Type.Object({
      kind: StringEnum(RECORD_KINDS),
      scope: Type.String({ description: '"all", a local date for results, an alert id for alert deliveries' }),
      records: Type.Integer(),
      queued: Type.Integer({ description: 'requests written to the outbox; 0 when nothing changed since the last' }),
    }),
  ),
});
export type UpstreamPushView = Static<typeof UpstreamPushSchema>;
