/** Play reports and the daily totals. */
import { Type, type Static } from '@sinclair/typebox';
import { PlayReport as PlayReportMessage } from '@loalang/protocol';
import { Instant, StringEnum } from './common.js';

const { v: _v, ...reportFields } = PlayReportMessage.properties;
/** A play report as the device sent it, with who sent it and when it arrived. */
export const PlayReportSchema = Type.Object({ ...reportFields, deviceId: Type.String(), receivedAt: Instant });
export type PlayReport = Static<typeof PlayReportSchema>;

export const DailyRowSchema = Type.Object({
  date: Type.String({ description: 'YYYY-MM-DD, local' }),
  contentId: Type.String(),
  contentTitle: Type.String(),
  groupId: Type.String({ description: 'a device id or an area id, by groupBy' }),
  groupName: Type.String(),
  plays: Type.Integer({ description: 'played to the end' }),
  seconds: Type.Integer({ description: 'seconds played' }),
  interrupted: Type.Integer(),
  failed: Type.Integer(),
  skipped: Type.Integer(),
});
export type DailyRow = Static<typeof DailyRowSchema>;

export const DailyReportSchema = Type.Object({
  timeZone: Type.String({ description: 'the timezone the days are in' }),
  groupBy: StringEnum(['device', 'area']),
  rows: Type.Array(DailyRowSchema),
});
export type DailyReport = Static<typeof DailyReportSchema>;
