/** Areas (the administrative tree). */
import { Type, type Static } from '@sinclair/typebox';
import { SCHEDULE_APPROVALS } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const QuietHoursSchema = Type.Object({ from: Type.String({ description: 'HH:MM local' }), to: Type.String({ description: 'HH:MM local' }) });

/** An area as stored (POST and PATCH answer this). */
export const AreaSchema = Type.Object({
  id: Id,
  name: Type.String(),
  parentId: Nullable(Type.String()),
  timezone: Nullable(Type.String({ description: 'own timezone; null inherits' })),
  quietHours: Nullable(QuietHoursSchema),
  scheduleApproval: Nullable(StringEnum(SCHEDULE_APPROVALS, { description: 'own approval rule; null inherits' })),
  geocodes: Type.Array(Type.String(), { description: 'codes naming this area in CAP <geocode>' }),
  createdAt: Instant,
});
export type Area = Static<typeof AreaSchema>;

/** An area as the lists show it (GET /areas, GET /areas/:id). */
export const AreaWithTimezoneSchema = Type.Object({
  ...AreaSchema.properties,
  effectiveTimezone: Type.String({ description: "its own timezone, else the nearest ancestor's, else Asia/Ho_Chi_Minh" }),
});
export type AreaWithTimezone = Static<typeof AreaWithTimezoneSchema>;
