/**
 * Every change made through the API goes to the audit log once its answer is sent: who (the
 * caller, if any), from where, which route and id, the outcome, and the body with secrets
 * masked. Refused attempts (403, 400) are kept too: they are what an investigation looks for.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerServices } from '@loalang/broker';

declare module 'fastify' {
  interface FastifyRequest {
    /** Facts a route adds to its audit entry's detail (e.g. a service account key's prefix). */
    auditExtra: Record<string, unknown> | null;
  }
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Logged by their routes with more to say (the username tried). */
const OWN_ENTRIES = new Set(['/api/v1/auth/login']);

/** Who acted, from where, and when on the server's clock (a node of a cluster: the database's). */
export function auditEntryBase(request: FastifyRequest, core: Pick<ServerServices, 'clock'>) {
  const user = request.caller?.user ?? null;
  return { at: new Date(core.clock.now()).toISOString(), userId: user?.id ?? null, username: user?.username ?? null, areaId: user?.areaId ?? null, source: request.ip };
}

function detailOf(request: FastifyRequest): unknown {
  const body = request.body ?? null;
  if (!request.auditExtra) return body;
  return { ...(body !== null && typeof body === 'object' ? body : {}), ...request.auditExtra };
}

export function registerAuditHook(app: FastifyInstance, core: ServerServices): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url;
    if (!CHANGES.has(request.method) || !route || OWN_ENTRIES.has(route)) return;
    const params = request.params as Record<string, string> | undefined;
    try {
      await core.audit.append({ ...auditEntryBase(request, core), action: `${request.method} ${route}`, target: params?.['id'] ?? params?.['deliveryId'] ?? null, status: reply.statusCode, detail: detailOf(request) });
    } catch (err) {
      request.log.error({ err }, 'audit entry not written');
    }
  });
}
