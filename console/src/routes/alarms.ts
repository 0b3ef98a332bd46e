import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ALARM_KINDS, brokerError, describeAlarm, type Alarm, type ServerServices } from '@loalang/broker';
import { IdParams } from '../schemas.js';
import { assertInScope, callerOf, requirePermission, scopedAreas } from '../auth.js';
import { AlarmSchema, ok } from '../responses/index.js';

const AlarmsQuery = Type.Object(
  {
    active: Type.Optional(Type.Boolean()),
    deviceId: Type.Optional(IdParams.properties.id),
    areaId: Type.Optional(IdParams.properties.id),
    kind: Type.Optional(Type.Union(ALARM_KINDS.map((k) => Type.Literal(k)))),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500 })),
  },
  { additionalProperties: false },
);

export const alarmRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'devices:read');
  const ack = requirePermission(core, 'alarms:ack');
  const described = async (a: Alarm) => describeAlarm(a, (await core.devices.get(a.deviceId))?.name ?? '');

  app.get('/alarms', { schema: { querystring: AlarmsQuery, tags: ['alarms'], description: 'Alarms (active and history), newest first, in the caller\'s areas', response: ok(Type.Array(AlarmSchema)) }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    const q = request.query;
    const devices = await core.devices.list({ areaIds: await scopedAreas(core, caller, q.areaId) });
    const names = new Map(devices.map((d) => [d.id, d.name]));
    let deviceIds = new Set(devices.map((d) => d.id));
    if (q.deviceId) {
      assertInScope(caller, (await core.devices.require(q.deviceId)).areaId);
      deviceIds = new Set(deviceIds.has(q.deviceId) ? [q.deviceId] : []);
    }
    const found = await core.alarms.query({ deviceIds, limit: q.limit ?? 500, ...(q.active !== undefined ? { active: q.active } : {}), ...(q.kind ? { kind: q.kind } : {}), ...(q.from ? { from: new Date(q.from).toISOString() } : {}), ...(q.to ? { to: new Date(q.to).toISOString() } : {}) });
    return found.map((a) => describeAlarm(a, names.get(a.deviceId) ?? ''));
  });

  app.post('/alarms/:id/ack', { schema: { params: IdParams, tags: ['alarms'], description: 'Acknowledge an alarm: someone is on it', response: ok(AlarmSchema) }, preHandler: ack }, async (request) => {
    const caller = callerOf(request);
    const alarm = await core.alarms.require(request.params.id);
    const device = await core.devices.get(alarm.deviceId);
    if (!device) throw brokerError('LOA_ERR_NOT_FOUND');
    assertInScope(caller, device.areaId);
    return described(await core.alarms.acknowledge(alarm.id, caller.user.id, core.clock.now()));
  });
};
