import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, permissionsOf, type ServerCore } from '@loalang/broker';
import { LoginBody } from '../schemas.js';
import { bearerToken, callerOf, requirePermission } from '../auth.js';
import { auditEntryBase } from '../audit-hook.js';

/** Login attempts one source address may make per minute. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 20;

export const authRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  // Per source address, on top of the per-account lockout: guessing across many accounts is slowed too.
  const rateLimit = { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 };
  app.post('/auth/login', { schema: { body: LoginBody, tags: ['auth'] }, config: { rateLimit } }, async (request) => {
    const base = auditEntryBase(request);
    const locked = core.users.lockedUntil(request.body.username);
    if (locked) {
      core.audit.append({ ...base, action: 'login-locked', target: null, status: 429, detail: { username: request.body.username.slice(0, 100), lockedUntil: locked } });
      throw brokerError('LOA_ERR_LOCKED', { en: `until ${locked}`, vi: `đến ${locked}` });
    }
    const user = await core.users.authenticate(request.body.username, request.body.password);
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
    const { user } = callerOf(request);
    return { ...user, permissions: permissionsOf(user.role) };
  });
};
