/** Schedules: each route parses, asks the broker's ScheduleService (which owns every rule), and replies. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerServices } from '@loalang/broker';
import { Type } from '@sinclair/typebox';
import { CreateScheduleBody, IdParams, UpdateScheduleBody } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { created, noContent, ok, ScheduleCheckSchema, ScheduleSchema } from '../responses/index.js';

const CheckQuery = Type.Object({ scheduleId: Type.Optional(IdParams.properties.id) }, { additionalProperties: false });

export const scheduleRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'schedules:read');
  const write = requirePermission(core, 'schedules:write');
  const approve = requirePermission(core, 'schedules:approve');
  const schedules = core.scheduling;

  app.get('/schedules', { schema: { tags: ['schedules'], response: ok(Type.Array(ScheduleSchema)) }, preHandler: read }, async (request) => schedules.list(callerOf(request)));

  app.post('/schedules', { schema: { body: CreateScheduleBody, tags: ['schedules'], response: created(ScheduleSchema) }, preHandler: write }, async (request, reply) =>
    reply.status(201).send(await schedules.create(callerOf(request), request.body)),
  );

  app.post(
    '/schedules/check',
    {
      schema: {
        body: CreateScheduleBody,
        querystring: CheckQuery,
        tags: ['schedules'],
        description: 'A dry run of POST /schedules (or of PATCH /schedules/{scheduleId} with the whole schedule): how many speakers it reaches, its plays in the next 14 days, and the plan, quiet-hour or conflict problems saving would meet. Nothing is saved.',
        response: ok(ScheduleCheckSchema),
      },
      preHandler: write,
    },
    async (request) => schedules.check(callerOf(request), request.body, request.query.scheduleId),
  );

  app.get('/schedules/:id', { schema: { params: IdParams, tags: ['schedules'], response: ok(ScheduleSchema) }, preHandler: read }, async (request) => schedules.get(callerOf(request), request.params.id));

  app.patch('/schedules/:id', { schema: { params: IdParams, body: UpdateScheduleBody, tags: ['schedules'], response: ok(ScheduleSchema) }, preHandler: write }, async (request) =>
    schedules.update(callerOf(request), request.params.id, request.body),
  );

  app.post('/schedules/:id/approve', { schema: { params: IdParams, tags: ['schedules'], response: ok(ScheduleSchema) }, preHandler: approve }, async (request) => schedules.approve(callerOf(request), request.params.id));

  app.delete('/schedules/:id', { schema: { params: IdParams, tags: ['schedules'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await schedules.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });
};
