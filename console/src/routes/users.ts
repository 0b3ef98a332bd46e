import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerServices } from '@loalang/broker';
import { CreateUserBody, IdParams, UpdateUserBody } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { created, noContent, ok, UserSchema } from '../responses/index.js';

export const userRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'users:read');
  const write = requirePermission(core, 'users:write');

  app.get('/users', { schema: { tags: ['users'], response: ok(Type.Array(UserSchema)) }, preHandler: read }, async (request) => core.accounts.list(callerOf(request)));

  app.post('/users', { schema: { body: CreateUserBody, tags: ['users'], response: created(UserSchema) }, preHandler: write }, async (request, reply) =>
    reply.status(201).send(await core.accounts.create(callerOf(request), request.body)),
  );

  app.get('/users/:id', { schema: { params: IdParams, tags: ['users'], response: ok(UserSchema) }, preHandler: read }, async (request) => core.accounts.visible(callerOf(request), request.params.id));

  app.patch('/users/:id', { schema: { params: IdParams, body: UpdateUserBody, tags: ['users'], response: ok(UserSchema) }, preHandler: write }, async (request) =>
    core.accounts.update(callerOf(request), request.params.id, request.body),
  );

  app.delete('/users/:id', { schema: { params: IdParams, tags: ['users'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await core.accounts.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });
};
