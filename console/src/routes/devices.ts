import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CommandType } from '@loalang/protocol';
import { brokerError, deviceTimeline, type ServerServices } from '@loalang/broker';
import { CreateDeviceBody, IdParams, UpdateDeviceBody } from '../schemas.js';
import type { FastifyRequest } from 'fastify';
import { callerOf, requirePermission, scopedAreas } from '../auth.js';
import { TimelineQuery, timelineWindow } from '../timeline-window.js';
import { agentConfigFor, type PublicUrls } from '../agent-config.js';
import {
  accepted,
  CommandRecordSchema,
  CommandSentSchema,
  created,
  DeviceConditionsSchema,
  DeviceCredentialsSchema,
  DeviceDetailSchema,
  DeviceListItemSchema,
  DeviceSchema,
  noContent,
  ok,
  TelemetryHistorySchema,
  TimelinePlaySchema,
} from '../responses/index.js';

const CommandBody = Type.Object(
  {
    type: CommandType,
    timeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  },
  // Numbers and booleans first: a JSON 2 stays a number (the validator would otherwise coerce it to "2").
  { additionalProperties: Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 200 })]) },
);
const DeviceListQuery = Type.Object(
  {
    areaId: Type.Optional(IdParams.properties.id),
    status: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline')])),
    alarm: Type.Optional(Type.Boolean({ description: 'true: only devices with an active alarm; false: only those without' })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'part of the name' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);
const TelemetryQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    resolution: Type.Optional(Type.Union([Type.Literal('raw'), Type.Literal('hourly')], { description: 'raw samples (kept 7 days) or hourly aggregates (kept a year)' })),
  },
  { additionalProperties: false },
);
const CommandParams = Type.Object({ id: IdParams.properties.id, commandId: IdParams.properties.id });

export const deviceRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices; urls: () => PublicUrls }> = async (app, { core, urls }) => {
  const read = requirePermission(core, 'devices:read');
  const write = requirePermission(core, 'devices:write');
  const command = requirePermission(core, 'devices:command');

  /** The device of the path, if the caller may see it. */
  const visible = (request: FastifyRequest & { params: { id: string } }) => core.fleet.visible(callerOf(request), request.params.id);

  app.get(
    '/devices',
    {
      schema: {
        querystring: DeviceListQuery,
        tags: ['devices'],
        description: 'Devices in your areas, by name; the total is in the X-Total-Count header',
        response: ok(Type.Array(DeviceListItemSchema, { headers: { 'X-Total-Count': { type: 'integer', description: 'devices matching the filters, all pages' } } })),
      },
      preHandler: read,
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const q = request.query;
      const areaIds = await scopedAreas(core, caller, q.areaId);
      const { total, devices } = await core.devices.page({
        areaIds,
        // The caller's whole scope, and that scope is the whole tree: no area condition (and no areas counted).
        ...(q.areaId === undefined && caller.wholeTree ? { everywhere: true } : {}),
        limit: q.limit ?? 1000,
        offset: q.offset ?? 0,
        ...(q.status ? { online: q.status === 'online' } : {}),
        ...(q.alarm !== undefined ? { alarm: q.alarm } : {}),
        ...(q.q ? { name: q.q } : {}),
      });
      void reply.header('X-Total-Count', String(total));
      return devices;
    },
  );

  app.post('/devices', { schema: { body: CreateDeviceBody, tags: ['devices'], response: created(DeviceCredentialsSchema) }, preHandler: write }, async (request, reply) => {
    const { device, secret } = await core.fleet.register(callerOf(request), request.body);
    return reply.status(201).send({
      ...device,
      mqttUsername: device.id,
      mqttPassword: secret,
      agentConfig: agentConfigFor(device, secret, urls(), core.signer.trusted(), core.releases.keys),
    });
  });

  app.get('/devices/:id', { schema: { params: IdParams, tags: ['devices'], response: ok(DeviceDetailSchema) }, preHandler: read }, async (request) => {
    const device = core.fleet.withPresence(await visible(request));
    return { ...device, presenceHistory: await core.devices.presenceHistory(device.id, 20) };
  });

  app.patch('/devices/:id', { schema: { params: IdParams, body: UpdateDeviceBody, tags: ['devices'], response: ok(DeviceSchema) }, preHandler: write }, async (request) =>
    core.fleet.update(callerOf(request), request.params.id, request.body),
  );

  app.post('/devices/:id/rotate-secret', { schema: { params: IdParams, tags: ['devices'], description: 'A new MQTT secret: the old one stops working at once and the device is disconnected; returns the new agent config', response: ok(DeviceCredentialsSchema) }, preHandler: write }, async (request) => {
    const { device, secret } = await core.fleet.rotateSecret(callerOf(request), request.params.id);
    return { ...device, mqttUsername: device.id, mqttPassword: secret, agentConfig: agentConfigFor(device, secret, urls(), core.signer.trusted(), core.releases.keys) };
  });

  app.delete('/devices/:id', { schema: { params: IdParams, tags: ['devices'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await core.fleet.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });

  app.post('/devices/:id/commands', { schema: { params: IdParams, body: CommandBody, tags: ['devices'], response: accepted(CommandSentSchema) }, preHandler: command }, async (request, reply) => {
    const { type, timeoutSec, ...params } = request.body;
    const sent = await core.fleet.command(callerOf(request), request.params.id, { type, params: params as Record<string, string | number | boolean>, ...(timeoutSec ? { timeoutSec } : {}) });
    return reply.status(202).send(sent);
  });

  app.get(
    '/devices/:id/timeline',
    { schema: { params: IdParams, querystring: TimelineQuery, tags: ['devices'], description: "The device's plays (approved and pending schedules) over a window, default the next 48 h", response: ok(Type.Array(TimelinePlaySchema)) }, preHandler: read },
    async (request) => {
      await visible(request);
      const { from, until } = timelineWindow(request.query, core.clock.now());
      return deviceTimeline(request.params.id, core, from, until);
    },
  );

  app.get('/devices/:id/telemetry', { schema: { params: IdParams, querystring: TelemetryQuery, tags: ['devices'], description: 'Health history: default the last 24 h raw', response: ok(TelemetryHistorySchema) }, preHandler: read }, async (request) => {
    await visible(request);
    const until = request.query.to ? Date.parse(request.query.to) : core.clock.now();
    const from = request.query.from ? Date.parse(request.query.from) : until - 24 * 3600_000;
    if (until <= from) throw brokerError('LOA_ERR_INVALID', { en: 'from must be before to', vi: 'thời điểm đầu phải trước thời điểm cuối' });
    return request.query.resolution === 'hourly' ? await core.telemetry.hourly(request.params.id, from, until) : await core.telemetry.raw(request.params.id, from, until);
  });

  app.get('/devices/:id/events', { schema: { params: IdParams, tags: ['devices'], response: ok(DeviceConditionsSchema) }, preHandler: read }, async (request) => {
    await visible(request);
    return { active: await core.events.active(request.params.id), history: await core.events.list(request.params.id) };
  });

  app.get('/devices/:id/commands', { schema: { params: IdParams, tags: ['devices'], response: ok(Type.Array(CommandRecordSchema)) }, preHandler: read }, async (request) => {
    await visible(request);
    return await core.commands.listForDevice(request.params.id);
  });

  app.get('/devices/:id/commands/:commandId', { schema: { params: CommandParams, tags: ['devices'], response: ok(CommandRecordSchema) }, preHandler: read }, async (request) => {
    const rec = await core.fleet.commandOf(callerOf(request), request.params.id, request.params.commandId);
    if (!rec) {
      throw brokerError('LOA_ERR_NOT_FOUND', { en: `command ${request.params.commandId}`, vi: `lệnh ${request.params.commandId}` });
    }
    return rec;
  });
};
