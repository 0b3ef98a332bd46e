import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, type ServerCore } from '@loalang/broker';
import { LoginBody } from '../schemas.js';
import { bearerToken, callerOf, requirePermission } from '../auth.js';
import { auditEntryBase } from '../audit-hook.js';

export const authRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  app.post('/auth/login', { schema: { body: LoginBody, tags: ['auth'] } }, async (request) => {
    const user = await core.users.authenticate(request.body.username, request.body.password);
    const base = auditEntryBase(request);
    if (!user) {
      core.audit.append({ ...base, action: 'login-failed', target: null, status: 401, detail: { username: request.body.username.slice(0, 100) } });
      throw brokerError('LOA_ERR_BAD_LOGIN');
    }
    core.audit.append({ ...base, userId: user.id, username: user.username, areaId: user.areaId, action: 'login', target: user.id, status: 200, detail: null });
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
