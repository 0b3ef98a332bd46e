/** Users, the signed-in user, login, the audit log. */
import { Type, type Static } from '@sinclair/typebox';
import { PERMISSIONS, ROLES } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const RoleSchema = StringEnum(ROLES);
export type Role = Static<typeof RoleSchema>;

/** A user (never their password hash). */
export const UserSchema = Type.Object(
  {
    id: Id,
    username: Type.String(),
    role: RoleSchema,
    areaId: Type.String({ description: 'the top of the area subtree the user acts in' }),
    disabled: Type.Boolean(),
    createdAt: Instant,
  },
  { description: 'A user: one role over one area subtree' },
);
export type User = Static<typeof UserSchema>;

/** GET /auth/me: the caller and what their role may do (the console offers only that). */
export const MeSchema = Type.Object({ ...UserSchema.properties, permissions: Type.Array(StringEnum(PERMISSIONS)) });
export type Me = Static<typeof MeSchema>;

export const LoginSchema = Type.Object({
  token: Type.String({ description: 'bearer token; only its SHA-256 is stored' }),
  expiresAt: Instant,
  user: UserSchema,
});
export type Login = Static<typeof LoginSchema>;

export const AuditEntrySchema = Type.Object({
  id: Type.Integer(),
  at: Instant,
  userId: Nullable(Type.String()),
  username: Nullable(Type.String()),
  areaId: Nullable(Type.String({ description: "the acting user's area" })),
  source: Nullable(Type.String({ description: 'source address of the request' })),
  action: Type.String({ description: 'e.g. `POST /api/v1/alerts`, `login`, `login-failed`' }),
  target: Nullable(Type.String({ description: 'the id the action was about' })),
  status: Nullable(Type.Integer({ description: 'HTTP status of the answer' })),
  detail: Type.Unknown({ description: 'the request body with secrets masked, or null' }),
  node: Nullable(Type.String({ description: 'the server node that acted (LOALANG_NODE_ID, or its host name); null for entries written before issue 17' })),
});
export type AuditEntry = Static<typeof AuditEntrySchema>;

/** A service account (issue 21): never its key, which only the create and rotate answers carry, once. */
export const ServiceAccountSchema = Type.Object(
  {
    id: Id,
    name: Type.String(),
    description: Type.String(),
    role: RoleSchema,
    areaId: Type.String({ description: 'the top of the area subtree the key acts in' }),
    prefix: Type.String({ description: 'the key starts `loa_sa_<prefix>_`: enough to tell keys apart, useless to call with' }),
    rateLimitPerMinute: Type.Integer({ description: 'requests a minute, counted by each server node' }),
    createdBy: Nullable(Type.String({ description: 'the admin who made it' })),
    createdAt: Instant,
    expiresAt: Instant,
    revokedAt: Nullable(Instant),
    rotatedAt: Nullable(Instant),
    lastUsedAt: Nullable(Type.String({ format: 'date-time', description: 'written at most once a minute' })),
    lastUsedFrom: Nullable(Type.String({ description: 'source address of that use' })),
    state: StringEnum(['active', 'revoked', 'expired'] as const),
  },
  { description: 'A service account: an API key for a machine, with one role over one area subtree' },
);
export type ServiceAccount = Static<typeof ServiceAccountSchema>;

/** POST /service-accounts, POST /api-keys, POST /service-accounts/:id/rotate: the key, shown this once. */
export const ServiceAccountKeySchema = Type.Object({
  account: ServiceAccountSchema,
  key: Type.String({ description: 'send as `Authorization: Bearer <key>` or `X-API-Key: <key>`; shown once, only its SHA-256 is kept' }),
});
export type ServiceAccountKey = Static<typeof ServiceAccountKeySchema>;
