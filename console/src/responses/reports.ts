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

/** The monthly broadcast report of an area (issue 21 item 4). */
export const MonthlyItemSchema = Type.Object({
  playId: Type.String(),
  scheduleId: Type.String(),
  contentId: Type.String(),
  title: Type.String({ description: "the library item's title, or the relayed stream's" }),
  date: Type.String({ description: 'YYYY-MM-DD, local: the day the play was due' }),
  time: Type.String({ description: 'HH:MM, local: when it was due' }),
  seconds: Type.Integer({ description: 'seconds on air: the longest any speaker played it' }),
  completed: Type.Integer({ description: 'speakers that played it to the end' }),
  notPlayed: Type.Integer({ description: 'speakers that reported it interrupted, failed or skipped' }),
  misses: Type.Array(Type.Object({ deviceId: Type.String(), deviceName: Type.String(), status: StringEnum(['interrupted', 'failed', 'skipped']), reason: Type.Union([Type.String(), Type.Null()]) })),
});

export const MonthlyReportSchema = Type.Object({
  areaId: Type.String(),
  areaName: Type.String(),
  areaCodes: Type.Array(Type.String(), { description: "the area's administrative codes (its CAP geocodes)" }),
  month: Type.String({ description: 'YYYY-MM, local' }),
  timeZone: Type.String(),
  from: Instant,
  to: Instant,
  items: Type.Array(MonthlyItemSchema),
  speakers: Type.Array(Type.Object({ deviceId: Type.String(), deviceName: Type.String(), areaId: Type.String(), completed: Type.Integer(), notPlayed: Type.Integer(), seconds: Type.Integer() })),
  totals: Type.Object({ items: Type.Integer(), seconds: Type.Integer({ description: 'airtime: the items’ seconds added up' }), completed: Type.Integer(), notPlayed: Type.Integer() }),
  truncated: Type.Boolean({ description: 'true when the month had more reports than one report reads: the counts are partial' }),
});
export type MonthlyReport = Static<typeof MonthlyReportSchema>;
