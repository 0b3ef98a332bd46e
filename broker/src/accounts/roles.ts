/**
 * Roles as data: what each role may do, always inside the user's area subtree.
 * A route names the permission it needs; nothing else decides.
 */
export const ROLES = ['admin', 'alert-staff', 'operator', 'technician', 'viewer'] as const;
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
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ: Permission[] = ['areas:read', 'devices:read', 'content:read', 'schedules:read', 'alerts:read', 'reports:read'];

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  'alert-staff': [...READ, 'alerts:write', 'content:write'],
  operator: [...READ, 'content:write', 'schedules:write'],
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
