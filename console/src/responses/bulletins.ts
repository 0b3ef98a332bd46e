/** Bulletins delivered by upstream systems (issue 21 item 2) and their outcome. */
import { Type, type Static } from '@sinclair/typebox';
import { BULLETIN_STATES } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const BulletinStateSchema = StringEnum(BULLETIN_STATES, {
  description:
    'receiving (being made), pending-approval (its schedule waits for an approver), scheduled (approved), broadcasting (sent as an alert), played (see counts), rejected (its schedule was deleted before it played), expired (validUntil passed, or its time, and it never played), failed (see reason)',
});
export type BulletinState = Static<typeof BulletinStateSchema>;

export const BulletinCountsSchema = Type.Object(
  {
    targeted: Type.Integer({ description: 'speakers it was sent to' }),
    played: Type.Integer({ description: 'speakers that played it to the end' }),
    failed: Type.Integer({ description: 'speakers that reported it failed, interrupted or skipped' }),
    noReport: Type.Integer({ description: 'speakers that sent no report' }),
  },
  { description: 'from the stored play reports of its schedule or alert' },
);

export const BulletinSchema = Type.Object({
  id: Id,
  sourceId: Type.String({ description: 'the user or service account that delivered it' }),
  upstreamId: Type.String({ description: "the upstream system's id" }),
  title: Type.String(),
  priority: StringEnum(['emergency', 'priority', 'normal'] as const),
  validFrom: Instant,
  validUntil: Nullable(Instant),
  areaIds: Type.Array(Type.String()),
  unmatchedCodes: Type.Array(Type.String(), { description: 'codes that name no area in the sender\'s scope' }),
  contentId: Nullable(Type.String()),
  scheduleId: Nullable(Type.String()),
  alertId: Nullable(Type.String()),
  state: BulletinStateSchema,
  reason: Nullable(Type.String({ description: 'why it is in its state, Vietnamese / English' })),
  counts: Nullable(BulletinCountsSchema),
  createdAt: Instant,
  updatedAt: Instant,
});
export type Bulletin = Static<typeof BulletinSchema>;
