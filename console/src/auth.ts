/**
 * Who is calling and what they may do. A user acts with one role over one area subtree;
 * routes declare the permission they need and check every area they touch with `inScope`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { assertInScope, brokerError, callerCan, isServiceKey, type Caller, type Permission, type ServerServices } from '@loalang/broker';

// The scope rules are the broker's (accounts/scope.ts); routes import them from here with the request helpers.
export { assertInScope, canReadFromArea, deviceInScope, targetsVisible, type Caller } from '@loalang/broker';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
}

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header?.startsWith('Bearer ')) return null;
  return header.slice('Bearer '.length).trim() || null;
}

/** A service account's key (issue 21), sent as `Authorization: Bearer loa_sa_…` or `X-API-Key: loa_sa_…`. */
export function serviceKey(request: FastifyRequest): string | null {
  const token = bearerToken(request);
  if (token) return isServiceKey(token) ? token : null;
  const header = request.headers['x-api-key'];
  const key = (Array.isArray(header) ? header[0] : header)?.trim();
  return key ? key : null;
}

/**
 * The caller behind a session token or a service account's key. A key that is revoked, expired
 * or over its rate limit rejects (401 or 429 saying why, in both languages) rather than passing
 * as anonymous: the machine's operator is told what to fix.
 */
export async function resolveCaller(core: ServerServices, request: FastifyRequest): Promise<Caller | null> {
  const key = serviceKey(request);
  if (key) return core.serviceAccounts.authenticate(key, request.ip);
  const token = bearerToken(request);
  if (!token) return null;
  const caller = await core.users.callerBySessionToken(token);
  return caller && !caller.user.disabled ? caller : null;
}

/** The device a request's Basic credentials (its id and secret, as in its agent config) name, if they are right. */
export async function deviceIdentityOf(core: ServerServices, request: FastifyRequest): Promise<{ deviceId: string } | null> {
  const header = request.headers.authorization;
  if (!header?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return core.devices.verify(decoded.slice(0, colon), Buffer.from(decoded.slice(colon + 1), 'utf8'));
}

/** Whether the request's session still stands for the same user, role and area (long-lived streams re-check). */
export async function stillSameCaller(core: ServerServices, request: FastifyRequest, caller: Caller): Promise<boolean> {
  const now = await resolveCaller(core, request).catch(() => null);
  return now !== null && now.user.id === caller.user.id && now.user.role === caller.user.role && now.user.areaId === caller.user.areaId;
}

/** preHandler factory: 401 without a valid token, 403 without the permission. */
export function requirePermission(core: ServerServices, permission: Permission) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    request.caller = await resolveCaller(core, request);
    if (!request.caller) throw brokerError('LOA_ERR_UNAUTHENTICATED');
    if (!callerCan(request.caller, permission)) {
      throw brokerError('LOA_ERR_FORBIDDEN', { en: `your role lacks ${permission}`, vi: `vai trò của bạn không có quyền ${permission}` });
    }
  };
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw brokerError('LOA_ERR_UNAUTHENTICATED');
  return request.caller;
}

/** The areas a list query covers: the caller's scope, or the subtree of `areaId` inside it. */
export async function scopedAreas(core: ServerServices, caller: Caller, areaId: string | undefined): Promise<Set<string>> {
  if (!areaId) return caller.scope;
  // An area in the caller's scope exists (the scope was read from the tree); only an area outside
  // it is looked up, to answer 404 for one that does not exist and 403 for another's.
  if (!caller.scope.has(areaId)) assertInScope(caller, (await core.areas.require(areaId)).id);
  return core.areas.subtreeIds(areaId);
}
