import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { areaTimeline, type ServerServices } from '@loalang/broker';
import { CreateAreaBody, IdParams, UpdateAreaBody } from '../schemas.js';
import { TimelineQuery, timelineWindow } from '../timeline-window.js';
import { callerOf, requirePermission } from '../auth.js';
import { AreaSchema, AreaTimelinePlaySchema, AreaWithTimezoneSchema, created, noContent, ok } from '../responses/index.js';

export const areaRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'areas:read');
  const write = requirePermission(core, 'areas:write');

  app.get('/areas', { schema: { tags: ['areas'], description: 'Areas in scope, each with effectiveTimezone (its own, else the nearest ancestor\'s, else Asia/Ho_Chi_Minh)', response: ok(Type.Array(AreaWithTimezoneSchema)) }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    return (await core.areas.listWithTimezones()).filter((a) => caller.scope.has(a.id));
  });

  app.post('/areas', { schema: { body: CreateAreaBody, tags: ['areas'], response: created(AreaSchema) }, preHandler: write }, async (request, reply) => {
    return reply.status(201).send(await core.areaAdmin.create(callerOf(request), { name: request.body.name, parentId: request.body.parentId, timezone: request.body.timezone ?? null, quietHours: request.body.quietHours ?? null, scheduleApproval: request.body.scheduleApproval ?? null, geocodes: request.body.geocodes ?? null }));
  });

  app.get('/areas/:id', { schema: { params: IdParams, tags: ['areas'], response: ok(AreaWithTimezoneSchema) }, preHandler: read }, async (request) => {
    const area = await core.areaAdmin.visible(callerOf(request), request.params.id);
    return { ...area, effectiveTimezone: await core.areas.effectiveTimezone(area.id) };
  });

  app.get(
    '/areas/:id/timeline',
    {
      schema: { params: IdParams, querystring: TimelineQuery, tags: ['areas'], description: "The area's programme (approved and pending schedules reaching any speaker in it or below) over a window, default the next 48 h; one entry per play, with how many of the area's speakers it reaches", response: ok(Type.Array(AreaTimelinePlaySchema)) },
      preHandler: requirePermission(core, 'schedules:read'),
    },
    async (request) => {
      await core.areaAdmin.visible(callerOf(request), request.params.id);
      const { from, until } = timelineWindow(request.query, core.clock.now());
      return areaTimeline(request.params.id, core, from, until);
    },
  );

  app.patch('/areas/:id', { schema: { params: IdParams, body: UpdateAreaBody, tags: ['areas'], response: ok(AreaSchema) }, preHandler: write }, async (request) => {
    return core.areaAdmin.update(callerOf(request), request.params.id, request.body);
  });

  app.delete('/areas/:id', { schema: { params: IdParams, tags: ['areas'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await core.areaAdmin.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });
};
