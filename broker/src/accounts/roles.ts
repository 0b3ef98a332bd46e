/**
 * Roles as data: what each role may do, always inside the user's area subtree.
 * A route names the permission it needs; nothing else decides.
 */
export const ROLES = ['admin', 'alert-staff', 'operator', 'source-system', 'technician', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'areas:read',
  'areas:write',
  'devices:read',
  'devices:write',
  'devices:command',
  'alarms:ack',
  'content:read',
  'content:write',
  'schedules:read',
  'schedules:write',
  'schedules:approve',
  'alerts:read',
  'alerts:write',
  'reports:read',
  'users:read',
  'users:write',
  'audit:read',
  'signing-keys:write',
  'updates:read',
  'updates:write',
  'service-accounts:read',
  'service-accounts:write',
  'webhooks:read',
  'webhooks:write',
  'integration:read',
  'integration:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: Permission[] = ['areas:read', 'devices:read', 'content:read', 'schedules:read', 'alerts:read', 'reports:read'];

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  'alert-staff': [...READ, 'alerts:write', 'content:write'],
  operator: [...READ, 'content:write', 'schedules:write'],
  // The province's source-information system (HTTTN) and other feeders of bulletins (issue 21):
  // its bulletins become schedules the area's rule approves, and an emergency sounds at once as an
  // alert; it approves nothing and manages no device, area or person.
  'source-system': [...READ, 'content:write', 'schedules:write', 'alerts:write'],
  technician: [...READ, 'devices:write', 'devices:command', 'alarms:ack', 'updates:read', 'updates:write'],
  viewer: READ,
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function can(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** Everything a role may do (shown to the web console so it offers only what will be allowed). */
export function permissionsOf(role: Role): readonly Permission[] {
  return GRANTS[role];
}

/**
 * What a service account's key may never do, whatever its role (issue 21): manage people or
 * keys (a leaked key must not mint more keys or users) or the server's signing keys, nor
 * webhooks (a leaked key must not point the server's signed events at a host of its choosing,
 * nor read the secrets integrators verify them with).
 */
export const SERVICE_ACCOUNT_DENIED: readonly Permission[] = ['users:read', 'users:write', 'service-accounts:read', 'service-accounts:write', 'signing-keys:write', 'webhooks:read', 'webhooks:write'];

/** Whether this caller, a person or a service account's key, may do this. */
export function callerCan(caller: { user: { role: Role }; serviceAccount?: unknown }, permission: Permission): boolean {
  if (caller.serviceAccount && SERVICE_ACCOUNT_DENIED.includes(permission)) return false;
  return can(caller.user.role, permission);
}

/** Everything this caller may do. */
export function callerPermissions(caller: { user: { role: Role }; serviceAccount?: unknown }): Permission[] {
  return permissionsOf(caller.user.role).filter((p) => callerCan(caller, p));
}
