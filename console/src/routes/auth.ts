import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { brokerError, callerPermissions, type ServerServices } from '@loalang/broker';
import { LoginBody } from '../schemas.js';
import { bearerToken, callerOf, requirePermission } from '../auth.js';
import { auditEntryBase } from '../audit-hook.js';
import { LoginSchema, MeSchema, noContent, ok } from '../responses/index.js';

/** How long to wait, in both languages, with the wait's end for the client. */
function lockedError(until: string, now: number) {
  const minutes = Math.max(1, Math.ceil((Date.parse(until) - now) / 60_000));
  return brokerError('LOA_ERR_LOCKED', { en: `try again in ${minutes} min`, vi: `thử lại sau ${minutes} phút` }, { retryAt: until });
}

/** Login attempts one source address may make per minute. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 20;

export const authRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  // Per source address, on top of the per-account-and-address throttle: guessing across many accounts is slowed too.
  const rateLimit = { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: 60_000 };
  app.post('/auth/login', { schema: { body: LoginBody, tags: ['auth'], response: ok(LoginSchema) }, config: { rateLimit } }, async (request) => {
    const base = auditEntryBase(request, core);
    const { username, password } = request.body;
    const source = request.ip;
    const who = username.slice(0, 100);
    // Counted per account and address: a stranger's wrong passwords never lock the owner out (issue 14).
    const blocked = await core.loginThrottle.blockedUntil(username, source);
    if (blocked) {
      await core.audit.append({ ...base, action: 'login-throttled', target: null, status: 429, detail: { username: who, until: blocked } });
      throw lockedError(blocked, core.clock.now());
    }
    const user = await core.users.authenticate(username, password);
    if (!user) {
      const until = await core.loginThrottle.failed(username, source);
      await core.audit.append({ ...base, action: 'login-failed', target: null, status: 401, detail: { username: who, ...(until ? { throttledUntil: until } : {}) } });
      throw brokerError('LOA_ERR_BAD_LOGIN');
    }
    await core.loginThrottle.succeeded(username, source);
    await core.audit.append({ ...base, userId: user.id, username: user.username, areaId: user.areaId, action: 'login', target: user.id, status: 200, detail: null });
    const { token, expiresAt } = await core.sessions.issue(user.id);
    return { token, expiresAt, user };
  });

  app.post('/auth/logout', { schema: { tags: ['auth'], response: noContent() } }, async (request, reply) => {
    const token = bearerToken(request);
    if (token) await core.sessions.revoke(token);
    return reply.status(204).send();
  });

  app.get('/auth/me', { schema: { tags: ['auth'], response: ok(MeSchema) }, preHandler: requirePermission(core, 'areas:read') }, async (request) => {
    const caller = callerOf(request);
    return { ...caller.user, permissions: callerPermissions(caller) };
  });
};
