import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, dailyTotals, isRelay, monthlyReport, relayContentId, reportsToCsv, toCsv, type ServerServices } from '@loalang/broker';
import { Type, type Static } from '@sinclair/typebox';
import { ReportsQuery } from '../schemas.js';
import { assertInScope, callerOf, requirePermission, scopedAreas, type Caller } from '../auth.js';
import { DailyReportSchema, jsonCsvOrPdf, jsonOrCsv, MonthlyReportSchema, PlayReportSchema, type MonthlyReport } from '../responses/index.js';
import { monthlyReportPdf } from '../monthly-pdf.js';

const DailyQuery = Type.Object({ ...ReportsQuery.properties, groupBy: Type.Optional(Type.Union([Type.Literal('device'), Type.Literal('area')])) }, { additionalProperties: false });
const DAILY_COLUMNS = ['date', 'contentId', 'contentTitle', 'groupId', 'groupName', 'plays', 'seconds', 'interrupted', 'failed', 'skipped'] as const;

const MonthlyQuery = Type.Object(
  {
    areaId: Type.Optional(ReportsQuery.properties.areaId),
    month: Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM, in the area’s timezone' }),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv'), Type.Literal('pdf')])),
  },
  { additionalProperties: false },
);
/** The monthly report's CSV, in the daily CSV's style: one row per item, with the speakers that did not play it. */
const MONTHLY_COLUMNS = ['date', 'time', 'title', 'seconds', 'completed', 'notPlayed', 'notPlayedSpeakers', 'contentId', 'scheduleId', 'playId'] as const;

function monthlyCsv(r: MonthlyReport): string {
  const rows = r.items.map((i) => ({ ...i, notPlayedSpeakers: i.misses.map((m) => `${m.deviceName} (${m.status})`).join('; ') }));
  return toCsv(rows, MONTHLY_COLUMNS);
}

/** An area's name for a file name: ASCII, lower case, words joined by dashes ("Xã Tân Phước" → "xa-tan-phuoc"). */
export function fileSlug(name: string): string {
  const ascii = name.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd');
  return ascii.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'dia-ban';
}

/** The caller's reports under the query's filters (area, device, time), scope enforced. */
async function scopedReports(core: ServerServices, caller: Caller, q: Static<typeof ReportsQuery>) {
  const areaIds = await scopedAreas(core, caller, q.areaId);
  let deviceIds = new Set((await core.devices.list({ areaIds })).map((d) => d.id));
  if (q.deviceId) {
    if (!deviceIds.has(q.deviceId)) {
      assertInScope(caller, (await core.devices.require(q.deviceId)).areaId);
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
      const tz = await core.areas.effectiveTimezone(q.areaId ?? caller.user.areaId);
      const devices = await core.devices.list({ areaIds: caller.scope });
      const areaOf = new Map(devices.map((d) => [d.id, d.areaId]));
      const byArea = q.groupBy === 'area';
      const groupNames = new Map<string, string>(byArea ? (await core.areas.list()).map((a) => [a.id, a.name]) : devices.map((d) => [d.id, d.name]));
      // Relays have no library item: they are named by their stream.
      const relays = new Map((await core.schedules.list()).flatMap((s) => s.items.filter(isRelay).map((i) => [relayContentId(i.streamUrl), i.streamUrl] as const)));
      const totals = dailyTotals(await scopedReports(core, caller, q), (r) => (byArea ? (areaOf.get(r.deviceId) ?? 'unknown') : r.deviceId), tz);
      const titles = new Map((await core.content.list()).map((c) => [c.id, c.title]));
      const titleOf = (id: string) => titles.get(id) ?? (relays.has(id) ? `Tiếp sóng / relay ${relays.get(id)}` : '');
      const rows = totals.map((r) => ({ ...r, contentTitle: titleOf(r.contentId), groupName: groupNames.get(r.groupId) ?? '' }));
      if (q.format === 'csv') {
        return reply.header('Content-Type', 'text/csv; charset=utf-8').header('Content-Disposition', 'attachment; filename="loalang-daily.csv"').send(toCsv(rows, DAILY_COLUMNS));
      }
      return { timeZone: tz, groupBy: byArea ? ('area' as const) : ('device' as const), rows };
    },
  );

  app.get(
    '/reports/monthly',
    {
      schema: {
        querystring: MonthlyQuery,
        tags: ['reports'],
        description: "An area's monthly broadcast report (the area and those below it; the month in its timezone): each item with the speakers that played it and did not, the totals; format=pdf: the printable form",
        response: jsonCsvOrPdf(MonthlyReportSchema, 'the report; format=csv: its items as CSV; format=pdf: the form, A4'),
      },
      preHandler: requirePermission(core, 'reports:read'),
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const q = request.query;
      const areaId = q.areaId ?? caller.user.areaId;
      await scopedAreas(core, caller, areaId); // 403 outside the caller's areas, 404 for none
      const report = await monthlyReport(core, areaId, q.month);
      const name = `bao-cao-thang-${q.month}-${fileSlug(report.areaName)}`;
      if (q.format === 'csv') {
        return reply.header('Content-Type', 'text/csv; charset=utf-8').header('Content-Disposition', `attachment; filename="${name}.csv"`).send(monthlyCsv(report));
      }
      if (q.format === 'pdf') {
        const pdf = await monthlyReportPdf(report, core.clock.now());
        return reply.header('Content-Type', 'application/pdf').header('Content-Disposition', `attachment; filename="${name}.pdf"`).send(pdf);
      }
      return report;
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
