/**
 * Who may touch what (issue 15: the rules lived in the console's routes, the target check
 * written twice). A caller acts with one role over one area subtree; every service checks each
 * area, device and content item it is given against that scope, here.
 */
import { Type, type Static } from '@sinclair/typebox';
import { brokerError } from '../errors.js';
import type { AreaRepo } from '../areas/areas.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { User } from './users.js';

export interface Caller {
  user: User;
  /** The user's area and everything below it. */
  scope: Set<string>;
  /** The scope is every area there is (read in the same query as the scope): lists need no area condition. */
  wholeTree?: boolean;
  /** Set when the caller is a service account's API key (issue 21); `user` is then its row. */
  serviceAccount?: { id: string; name: string; prefix: string };
}

const Ref = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

/** Where a schedule or an alert plays: areas (with everything below them) and single devices. The one declaration of that shape. */
export const TargetsSchema = Type.Object(
  {
    areaIds: Type.Array(Ref, { maxItems: 1000, default: [] }),
    deviceIds: Type.Array(Ref, { maxItems: 10000, default: [] }),
  },
  { additionalProperties: false },
);
export type Targets = Static<typeof TargetsSchema>;

export function assertInScope(caller: Caller, areaId: string): void {
  if (!caller.scope.has(areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
}

/** Content made higher up the tree (a province bulletin) may be read, and played, below it. */
export async function canReadFromArea(areas: Pick<AreaRepo, 'ancestorIds'>, caller: Caller, areaId: string): Promise<boolean> {
  return caller.scope.has(areaId) || (await areas.ancestorIds(caller.user.areaId)).includes(areaId);
}

/**
 * Checks that every target exists and lies in the caller's scope (404 for an unknown one, 403
 * outside), and returns them without repeats.
 */
export async function checkTargets(deps: { areas: Pick<AreaRepo, 'require'>; devices: Pick<DeviceRepo, 'require'> }, caller: Caller, targets: Targets): Promise<Targets> {
  for (const a of targets.areaIds) assertInScope(caller, (await deps.areas.require(a)).id);
  for (const d of targets.deviceIds) assertInScope(caller, (await deps.devices.require(d)).areaId);
  return { areaIds: [...new Set(targets.areaIds)], deviceIds: [...new Set(targets.deviceIds)] };
}

/** Whether a device is in the caller's areas: one query, then a set lookup per device. */
export async function deviceInScope(devices: Pick<DeviceRepo, 'idsInAreas'>, caller: Caller): Promise<(deviceId: string) => boolean> {
  const ids = await devices.idsInAreas(caller.scope);
  return (deviceId) => ids.has(deviceId);
}

/** An alert (or anything with targets) is the caller's to see when it targets one of their areas or devices. */
export function targetsVisible(caller: Caller, targets: Targets, mine: (deviceId: string) => boolean): boolean {
  return targets.areaIds.some((a) => caller.scope.has(a)) || targets.deviceIds.some(mine);
}
