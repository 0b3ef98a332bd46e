/** `GET /audit`: the append-only audit log, newest first, for admins, limited to their area's users. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerServices } from '@loalang/broker';
import { callerOf, requirePermission } from '../auth.js';
import { AuditEntrySchema, ok } from '../responses/index.js';

const AuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    userId: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
    action: Type.Optional(Type.String({ maxLength: 100, description: 'prefix, e.g. "POST /api/v1/alerts" or "login"' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500 })),
  },
  { additionalProperties: false },
);

export const auditRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  app.get('/audit', { schema: { querystring: AuditQuery, tags: ['audit'], description: 'Who changed what, when and from where; refused attempts and logins included', response: ok(Type.Array(AuditEntrySchema)) }, preHandler: requirePermission(core, 'audit:read') }, async (request) => {
    const q = request.query;
    return core.audit.query({
      areaIds: callerOf(request).scope,
      limit: q.limit ?? 500,
      ...(q.from ? { from: new Date(q.from).toISOString() } : {}),
      ...(q.to ? { to: new Date(q.to).toISOString() } : {}),
      ...(q.userId ? { userId: q.userId } : {}),
      ...(q.action ? { action: q.action } : {}),
    });
  });
};
