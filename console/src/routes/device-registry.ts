/**
 * The device registry as CSV (issue 21 item 4): every speaker in the caller's areas (or under
 * `areaId`) with its area's name and administrative code, position, presence, agent version and
 * CPU, for the district's inventory. The JSON list is GET /devices.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { toCsv, type ServerServices } from '@loalang/broker';
import { IdParams } from '../schemas.js';
import { callerOf, requirePermission, scopedAreas } from '../auth.js';
import { csvOnly } from '../responses/index.js';

const RegistryQuery = Type.Object({ areaId: Type.Optional(IdParams.properties.id) }, { additionalProperties: false });
const COLUMNS = ['id', 'name', 'areaId', 'areaName', 'areaCode', 'lat', 'lon', 'online', 'lastSeenAt', 'agentVersion', 'agentArch', 'disabled', 'createdAt'] as const;

export const deviceRegistryRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  app.get(
    '/devices/registry.csv',
    {
      schema: { querystring: RegistryQuery, tags: ['devices'], description: 'The device registry as CSV: each device with its area, code, position, presence and agent, by area then name', response: csvOnly('the registry as CSV') },
      preHandler: requirePermission(core, 'devices:read'),
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const areaIds = await scopedAreas(core, caller, request.query.areaId);
      const areas = new Map((await core.areas.list()).map((a) => [a.id, a]));
      const rows = (await core.devices.list({ areaIds }))
        .map((d) => {
          const area = areas.get(d.areaId);
          return { ...core.fleet.withPresence(d), areaName: area?.name ?? '', areaCode: area?.geocodes.join(' ') ?? '', lat: d.position?.lat ?? null, lon: d.position?.lon ?? null };
        })
        .sort((a, b) => a.areaName.localeCompare(b.areaName, 'vi') || a.name.localeCompare(b.name, 'vi') || a.id.localeCompare(b.id));
      return reply.header('Content-Type', 'text/csv; charset=utf-8').header('Content-Disposition', 'attachment; filename="loalang-devices.csv"').send(toCsv(rows, COLUMNS));
    },
  );
};
