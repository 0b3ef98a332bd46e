/** Alerts, their deliveries, CAP ingest. */
import { Type, type Static, type TInteger } from '@sinclair/typebox';
import { DELIVERY_STATES, TargetsSchema, type AlertPriority, type AlertState, type CapResult, type DeliveryState as BrokerDeliveryState } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

const ALERT_PRIORITIES = ['emergency', 'priority'] as const satisfies readonly AlertPriority[];
const ALERT_STATES = ['active', 'cancelled', 'expired', 'replaced'] as const satisfies readonly AlertState[];
const CAP_ACTIONS = ['created', 'updated', 'cancelled', 'ignored'] as const satisfies readonly CapResult['action'][];

export const DeliveryStateSchema = StringEnum(DELIVERY_STATES);
export type DeliveryState = Static<typeof DeliveryStateSchema>;

/** What a CAP message said, kept with the alert it made. */
export const CapOriginSchema = Type.Object({
  identifier: Type.String(),
  sender: Type.String(),
  sent: Type.String(),
  event: Type.String(),
  severity: Type.String(),
  urgency: Type.String(),
  certainty: Type.String(),
});

export const AlertSchema = Type.Object({
  id: Id,
  title: Type.String(),
  text: Nullable(Type.String({ description: 'what the speech engine read out; null for recorded audio' })),
  contentId: Type.String(),
  priority: StringEnum(ALERT_PRIORITIES),
  targets: TargetsSchema,
  repeat: Type.Integer(),
  gapMs: Type.Integer(),
  volume: Nullable(Type.Integer()),
  startAt: Instant,
  expiresAt: Instant,
  state: StringEnum(ALERT_STATES),
  replaces: Nullable(Type.String()),
  replacedBy: Nullable(Type.String()),
  cap: Nullable(CapOriginSchema),
  createdBy: Nullable(Type.String()),
  createdAt: Instant,
  endedAt: Nullable(Instant),
});
export type Alert = Static<typeof AlertSchema>;

/** How many deliveries are in each state (every state present). */
export const DeliveryTotalsSchema = Type.Object(Object.fromEntries(DELIVERY_STATES.map((s) => [s, Type.Integer()])) as Record<BrokerDeliveryState, TInteger>);

/** An alert with its delivery totals (lists, POST /alerts, the live stream). */
export const AlertSummarySchema = Type.Object({ ...AlertSchema.properties, totals: DeliveryTotalsSchema });
export type AlertSummary = Static<typeof AlertSummarySchema>;

export const DeliverySchema = Type.Object({
  deviceId: Type.String(),
  state: DeliveryStateSchema,
  reason: Nullable(Type.String()),
  played: Type.Integer({ description: 'repetitions played to the end' }),
  startedAt: Nullable(Instant),
  updatedAt: Instant,
});
export type Delivery = Static<typeof DeliverySchema>;

/** GET /alerts/:id: the deliveries of the caller's speakers, their totals, and whether all ended. */
export const AlertViewSchema = Type.Object({
  ...AlertSchema.properties,
  deliveries: Type.Array(DeliverySchema),
  totals: DeliveryTotalsSchema,
  done: Type.Boolean({ description: 'every delivery is in a final state' }),
});
export type AlertView = Static<typeof AlertViewSchema>;

/** POST /alerts/cap: what the message did (201 created or updated, 200 cancelled, 202 ignored). */
export const CapAnswerSchema = Type.Object({
  action: StringEnum(CAP_ACTIONS),
  reason: Type.Optional(Type.String({ description: 'why an ignored message was not broadcast' })),
  identifier: Type.String(),
  alerts: Type.Array(AlertViewSchema),
});
