import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, dailyTotals, isRelay, relayContentId, reportsToCsv, toCsv, type ServerServices } from '@loalang/broker';
import { Type, type Static } from '@sinclair/typebox';
import { ReportsQuery } from '../schemas.js';
import { assertInScope, callerOf, requirePermission, scopedAreas, type Caller } from '../auth.js';
import { DailyReportSchema, jsonOrCsv, PlayReportSchema } from '../responses/index.js';

const DailyQuery = Type.Object({ ...ReportsQuery.properties, groupBy: Type.Optional(Type.Union([Type.Literal('device'), Type.Literal('area')])) }, { additionalProperties: false });
const DAILY_COLUMNS = ['date', 'contentId', 'contentTitle', 'groupId', 'groupName', 'plays', 'seconds', 'interrupted', 'failed', 'skipped'] as const;

/** The caller's reports under the query's filters (area, device, time), scope enforced. */
async function scopedReports(core: ServerServices, caller: Caller, q: Static<typeof ReportsQuery>) {
  const areaIds = scopedAreas(core, caller, q.areaId);
  let deviceIds = new Set(core.devices.list({ areaIds }).map((d) => d.id));
  if (q.deviceId) {
    if (!deviceIds.has(q.deviceId)) {
      assertInScope(caller, core.devices.require(q.deviceId).areaId);
      throw brokerError('LOA_ERR_INVALID', { en: 'the device is not in the chosen area', vi: 'thiết bị không thuộc địa bàn đã chọn' });
    }
    deviceIds = new Set([q.deviceId]);
  }
  return core.reports.query({
    ...(q.from ? { from: new Date(q.from).toISOString() } : {}),
    ...(q.to ? { to: new Date(q.to).toISOString() } : {}),
    deviceIds,
  });
}

export const reportRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  app.get(
    '/reports/daily',
    { schema: { querystring: DailyQuery, tags: ['reports'], description: 'Per item and local day: plays to the end and seconds played, per device or per area', response: jsonOrCsv(DailyReportSchema, 'the totals; format=csv: the rows as CSV') }, preHandler: requirePermission(core, 'reports:read') },
    async (request, reply) => {
      const caller = callerOf(request);
      const q = request.query;
      const tz = core.areas.effectiveTimezone(q.areaId ?? caller.user.areaId);
      const areaOf = new Map(core.devices.list({ areaIds: caller.scope }).map((d) => [d.id, d.areaId]));
      const byArea = q.groupBy === 'area';
      // Relays have no library item: they are named by their stream.
      const relays = new Map(core.schedules.list().flatMap((s) => s.items.filter(isRelay).map((i) => [relayContentId(i.streamUrl), i.streamUrl] as const)));
      const titleOf = (id: string) => core.content.get(id)?.title ?? (relays.has(id) ? `Tiếp sóng / relay ${relays.get(id)}` : '');
      const rows = dailyTotals(await scopedReports(core, caller, q), (r) => (byArea ? (areaOf.get(r.deviceId) ?? 'unknown') : r.deviceId), tz).map((r) => ({
        ...r,
        contentTitle: titleOf(r.contentId),
        groupName: (byArea ? core.areas.get(r.groupId)?.name : core.devices.get(r.groupId)?.name) ?? '',
      }));
      if (q.format === 'csv') {
        return reply.header('Content-Type', 'text/csv; charset=utf-8').header('Content-Disposition', 'attachment; filename="loalang-daily.csv"').send(toCsv(rows, DAILY_COLUMNS));
      }
      return { timeZone: tz, groupBy: byArea ? ('area' as const) : ('device' as const), rows };
    },
  );

  app.get('/reports', { schema: { querystring: ReportsQuery, tags: ['reports'], description: 'Play reports, newest first', response: jsonOrCsv(Type.Array(PlayReportSchema), 'the reports; format=csv: as CSV') }, preHandler: requirePermission(core, 'reports:read') }, async (request, reply) => {
    const caller = callerOf(request);
    const q = request.query;
    const reports = await scopedReports(core, caller, q);
    if (q.format === 'csv') {
      return reply
        .header('Content-Type', 'text/csv; charset=utf-8')
        .header('Content-Disposition', 'attachment; filename="loalang-reports.csv"')
        .send(reportsToCsv(reports));
    }
    return reports;
  });
};
