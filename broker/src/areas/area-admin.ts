/**
 * The rules of the area tree for people: who may add, move, change and remove areas. Nobody can
 * lift an area out of their own scope (make it a root, move their own top area), and a change
 * that alters what speakers below must do (a move, a timezone, quiet hours) reaches them.
 */
import { assertInScope, type Caller } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { Area, AreaInput, AreaRepo } from './areas.js';

export class AreaAdmin {
  constructor(
    private readonly deps: {
      areas: AreaRepo;
      devices: Pick<DeviceRepo, 'list'>;
      refresh: (deviceIds: Iterable<string>) => void;
    },
  ) {}

  /** An area inside the caller's scope (404 when unknown, 403 when outside it). */
  async visible(caller: Caller, areaId: string): Promise<Area> {
    const area = await this.deps.areas.require(areaId);
    assertInScope(caller, area.id);
    return area;
  }

  async create(caller: Caller, input: AreaInput): Promise<Area> {
    // A root area (no parent) can only be made by someone whose scope is already the whole tree's root.
    if (input.parentId === null) {
      if ((await this.deps.areas.require(caller.user.areaId)).parentId !== null) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    } else {
      assertInScope(caller, input.parentId);
    }
    return this.deps.areas.create(input);
  }

  async update(caller: Caller, areaId: string, patch: Partial<AreaInput>): Promise<Area> {
    await this.visible(caller, areaId);
    if (patch.parentId) assertInScope(caller, patch.parentId);
    // Making an area a root, or moving your own top area, would lift it out of your scope.
    const moves = patch.parentId !== undefined;
    if (moves && (patch.parentId === null || areaId === caller.user.areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    const area = await this.deps.areas.update(areaId, patch);
    // A move, a new timezone or new quiet hours change what devices below must do.
    this.deps.refresh((await this.deps.devices.list({ areaIds: await this.deps.areas.subtreeIds(area.id) })).map((d) => d.id));
    return area;
  }

  async remove(caller: Caller, areaId: string): Promise<void> {
    await this.visible(caller, areaId);
    if (areaId === caller.user.areaId) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    await this.deps.areas.delete(areaId);
  }
}
