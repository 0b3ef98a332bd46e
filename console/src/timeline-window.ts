/** The window of a programme view (`?from&to`): default the next 48 h, at most 31 days. */
import { Type } from '@sinclair/typebox';
import { brokerError } from '@loalang/broker';

export const TimelineQuery = Type.Object(
  { from: Type.Optional(Type.String({ format: 'date-time' })), to: Type.Optional(Type.String({ format: 'date-time' })) },
  { additionalProperties: false },
);

export function timelineWindow(query: { from?: string; to?: string }, now: number): { from: number; until: number } {
  const from = query.from ? Date.parse(query.from) : now;
  const until = query.to ? Date.parse(query.to) : from + 48 * 3600_000;
  if (until <= from || until - from > 31 * 24 * 3600_000) {
    throw brokerError('LOA_ERR_INVALID', { en: 'the window must be positive and at most 31 days', vi: 'khoảng thời gian phải dương và tối đa 31 ngày' });
  }
  return { from, until };
}
