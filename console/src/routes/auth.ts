import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, type ServerCore } from '@loalang/broker';
import { LoginBody } from '../schemas.js';
import { bearerToken, callerOf, requirePermission } from '../auth.js';

export const authRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  app.post('/auth/login', { schema: { body: LoginBody, tags: ['auth'] } }, async (request) => {
    const user = await core.users.authenticate(request.body.username, request.body.password);
    if (!user) throw brokerError('LOA_ERR_BAD_LOGIN');
    const { token, expiresAt } = core.sessions.issue(user.id);
    return { token, expiresAt, user };
  });

  app.post('/auth/logout', { schema: { tags: ['auth'] } }, async (request, reply) => {
    const token = bearerToken(request);
    if (token) core.sessions.revoke(token);
    return reply.status(204).send();
  });

  app.get('/auth/me', { schema: { tags: ['auth'] }, preHandler: requirePermission(core, 'areas:read') }, async (request) => {
    return callerOf(request).user;
  });
};
