import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, reportsToCsv, type ServerCore } from '@loalang/broker';
import { ReportsQuery } from '../schemas.js';
import { assertInScope, callerOf, requirePermission } from '../auth.js';

export const reportRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  app.get('/reports', { schema: { querystring: ReportsQuery, tags: ['reports'] }, preHandler: requirePermission(core, 'reports:read') }, async (request, reply) => {
    const caller = callerOf(request);
    const q = request.query;
    let areaIds = caller.scope;
    if (q.areaId) {
      assertInScope(caller, core.areas.require(q.areaId).id);
      areaIds = core.areas.subtreeIds(q.areaId);
    }
    let deviceIds = new Set(core.devices.list({ areaIds }).map((d) => d.id));
    if (q.deviceId) {
      if (!deviceIds.has(q.deviceId)) {
        assertInScope(caller, core.devices.require(q.deviceId).areaId);
        throw brokerError('LOA_ERR_INVALID', { en: 'the device is not in the chosen area', vi: 'thiết bị không thuộc địa bàn đã chọn' });
      }
      deviceIds = new Set([q.deviceId]);
    }
    const reports = core.reports.query({
      ...(q.from ? { from: new Date(q.from).toISOString() } : {}),
      ...(q.to ? { to: new Date(q.to).toISOString() } : {}),
      deviceIds,
    });
    if (q.format === 'csv') {
      return reply
        .header('Content-Type', 'text/csv; charset=utf-8')
        .header('Content-Disposition', 'attachment; filename="loalang-reports.csv"')
        .send(reportsToCsv(reports));
    }
    return reports;
  });
};
