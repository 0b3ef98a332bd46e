import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerServices } from '@loalang/broker';
import { CreateUserBody, IdParams, UpdateUserBody } from '../schemas.js';
import { assertInScope, callerOf, requirePermission } from '../auth.js';
import { created, noContent, ok, UserSchema } from '../responses/index.js';

export const userRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'users:read');
  const write = requirePermission(core, 'users:write');

  app.get('/users', { schema: { tags: ['users'], response: ok(Type.Array(UserSchema)) }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    return core.users.list().filter((u) => caller.scope.has(u.areaId));
  });

  app.post('/users', { schema: { body: CreateUserBody, tags: ['users'], response: created(UserSchema) }, preHandler: write }, async (request, reply) => {
    assertInScope(callerOf(request), request.body.areaId);
    core.areas.require(request.body.areaId);
    const user = await core.users.create(request.body);
    return reply.status(201).send(user);
  });

  app.get('/users/:id', { schema: { params: IdParams, tags: ['users'], response: ok(UserSchema) }, preHandler: read }, async (request) => {
    const user = core.users.require(request.params.id);
    assertInScope(callerOf(request), user.areaId);
    return user;
  });

  app.patch('/users/:id', { schema: { params: IdParams, body: UpdateUserBody, tags: ['users'], response: ok(UserSchema) }, preHandler: write }, async (request) => {
    const caller = callerOf(request);
    const user = core.users.require(request.params.id);
    assertInScope(caller, user.areaId);
    if (request.body.areaId) assertInScope(caller, request.body.areaId);
    const updated = await core.users.update(user.id, request.body);
    if (request.body.password || request.body.disabled) core.sessions.revokeAllFor(user.id);
    // A new password ends every address's wait on the account.
    if (request.body.password) core.loginThrottle.reset(user.username);
    return updated;
  });

  app.delete('/users/:id', { schema: { params: IdParams, tags: ['users'], response: noContent() }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const user = core.users.require(request.params.id);
    assertInScope(caller, user.areaId);
    core.users.delete(user.id);
    return reply.status(204).send();
  });
};
