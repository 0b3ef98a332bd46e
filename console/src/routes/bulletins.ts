/**
 * Bulletins from upstream systems (issue 21 item 2): the province's source-information system
 * (HTTTN) delivers one with its own id (idempotent: 201 made, 200 a resend of the same body, 409
 * another body under that id), and reads its outcome back. Each route parses, asks the broker's
 * BulletinService (which owns every rule), and replies.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerServices } from '@loalang/broker';
import { Type } from '@sinclair/typebox';
import { BulletinListQuery, CreateBulletinBody, IdParams, UpstreamIdParams } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { BulletinSchema, ok } from '../responses/index.js';

export const bulletinRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'schedules:read');
  const write = requirePermission(core, 'schedules:write');
  const bulletins = core.bulletins;

  app.post(
    '/bulletins',
    {
      schema: {
        body: CreateBulletinBody,
        tags: ['bulletins'],
        description:
          'Deliver a bulletin (text spoken, or audio fetched from LOALANG_BULLETIN_AUDIO_HOSTS) to the areas with these administrative codes. It becomes a schedule the area\'s approval rule decides on, or, for an emergency from an account that may send alerts, an alert now. Idempotent on the caller and `id`: 201 made, 200 the same body again (the stored bulletin), 409 another body under that id; a failed one may be sent again.',
        response: { 201: BulletinSchema, ...ok(BulletinSchema) },
      },
      preHandler: write,
    },
    async (request, reply) => {
      const { bulletin, created } = await bulletins.receive(callerOf(request), request.body);
      request.auditExtra = { bulletinId: bulletin.id, upstreamId: bulletin.upstreamId, state: bulletin.state, replay: !created };
      return reply.status(created ? 201 : 200).send(bulletin);
    },
  );

  app.get(
    '/bulletins',
    { schema: { querystring: BulletinListQuery, tags: ['bulletins'], description: 'Bulletins the caller sent or that reach their areas, newest first', response: ok(Type.Array(BulletinSchema)) }, preHandler: read },
    async (request) => bulletins.list(callerOf(request), { ...(request.query.state ? { state: request.query.state } : {}), limit: request.query.limit ?? 100 }),
  );

  app.get('/bulletins/:id', { schema: { params: IdParams, tags: ['bulletins'], description: 'One bulletin and its outcome', response: ok(BulletinSchema) }, preHandler: read }, async (request) =>
    bulletins.get(callerOf(request), request.params.id),
  );

  app.get(
    '/bulletins/by-upstream/:upstreamId',
    { schema: { params: UpstreamIdParams, tags: ['bulletins'], description: "A bulletin by the upstream system's id (the caller's own first)", response: ok(BulletinSchema) },
      preHandler: read },
    async (request) => bulletins.byUpstream(callerOf(request), request.params.upstreamId),
  );
};
