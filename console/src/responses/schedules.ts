/** Schedules, the dry run of one, and programmes (timelines). */
import { Type, type Static } from '@sinclair/typebox';
import { TargetsSchema, type ScheduleStatus } from '@loalang/broker';
import { DesiredPlay, Priority } from '@loalang/protocol';
import { RecurrenceSchema } from '../schemas.js';
import { Id, Instant, Nullable, StringEnum } from './common.js';

const SCHEDULE_STATUSES = ['pending', 'approved'] as const satisfies readonly ScheduleStatus[];
export const ScheduleStatusSchema = StringEnum(SCHEDULE_STATUSES, { description: 'only approved schedules reach speakers' });

/**
 * An item as stored: a library item, or a relay of a live stream for `durationSec`. Without the
 * request's limits: an anyOf is resolved by validating each value, and an answer must not fail
 * on a stored one (a relay URL the server normalised can outgrow the request's 2,048 characters).
 */
export const ScheduleItemSchema = Type.Union([Type.Object({ contentId: Type.String() }), Type.Object({ streamUrl: Type.String(), durationSec: Type.Integer() })]);
export type ScheduleItem = Static<typeof ScheduleItemSchema>;

/** When a schedule repeats, in its area's timezone (1 = Monday … 7 = Sunday): as POST /schedules takes it. */
export type Recurrence = Static<typeof RecurrenceSchema>;

/** Targets and recurrence are the very schemas POST /schedules takes. */
export const ScheduleSchema = Type.Object({
  id: Id,
  title: Type.String(),
  areaId: Type.String({ description: 'the area whose rules apply' }),
  priority: Priority,
  start: Instant,
  items: Type.Array(ScheduleItemSchema),
  targets: TargetsSchema,
  volume: Nullable(Type.Integer()),
  recurrence: Type.Union([RecurrenceSchema, Type.Null()], { description: 'null: plays once at start' }),
  repeat: Type.Object({ count: Type.Integer(), gapSec: Type.Integer() }),
  status: ScheduleStatusSchema,
  createdBy: Nullable(Type.String()),
  approvedBy: Nullable(Type.String()),
  approvedAt: Nullable(Instant),
  createdAt: Instant,
  updatedAt: Instant,
});
export type Schedule = Static<typeof ScheduleSchema>;

/** POST /schedules/check: what saving would mean, and the problems it would meet. */
export const ScheduleCheckSchema = Type.Object({
  devices: Type.Integer({ description: 'speakers it reaches' }),
  plays: Type.Integer({ description: 'its plays in the next 14 days' }),
  firstPlayAt: Nullable(Instant),
  approval: StringEnum(['on-save', 'needed'], { description: 'approved as it is saved, or waits for an approver' }),
  problems: Type.Array(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      messageVi: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
});
export type ScheduleCheck = Static<typeof ScheduleCheckSchema>;

/** One play of a device's programme: the play as the device is sent it, with its schedule. */
export const TimelinePlaySchema = Type.Object({
  ...DesiredPlay.properties,
  scheduleTitle: Type.String(),
  scheduleStatus: ScheduleStatusSchema,
  endAt: Instant,
});
export type TimelinePlay = Static<typeof TimelinePlaySchema>;

/** One play of an area's programme, with how many of the area's speakers it reaches. */
export const AreaTimelinePlaySchema = Type.Object({ ...TimelinePlaySchema.properties, devices: Type.Integer() });
export type AreaTimelinePlay = Static<typeof AreaTimelinePlaySchema>;
