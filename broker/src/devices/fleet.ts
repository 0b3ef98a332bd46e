/**
 * What people do to speakers: register, change, take out of service, re-key and command them.
 * Every action is checked against the caller's area scope here, and the device's live link is
 * kept in step (a disabled, re-keyed or deleted device is cut off at once).
 */
import type { CommandType, MessageKind, MessageOf } from '@loalang/protocol';
import { assertInScope, type Caller } from '../accounts/scope.js';
import type { CommandRecord, CommandRepo } from './commands.js';
import type { Device, DeviceRepo } from './devices.js';

/** The broker, as far as the fleet needs it. */
export interface DeviceLink {
  isOnline(deviceId: string): boolean;
  disconnectDevice(deviceId: string): void;
  publishToDevice<K extends MessageKind>(deviceId: string, kind: K, message: MessageOf<K>): Promise<void>;
}

export type DeviceWithPresence = Device & { online: boolean };

export interface CommandRequest {
  type: CommandType;
  params: CommandRecord['params'];
  /** How long the device may still act on it; default 30 s. */
  timeoutSec?: number;
}

export class DeviceFleet {
  constructor(
    private readonly deps: {
      devices: DeviceRepo;
      commands: CommandRepo;
      link: DeviceLink;
      /** Recompute and send the programmes of these devices. */
      refresh: (deviceIds: Iterable<string>) => void;
    },
  ) {}

  /** A device inside the caller's areas (404 when unknown, 403 when outside them). */
  async visible(caller: Caller, deviceId: string): Promise<Device> {
    const device = await this.deps.devices.require(deviceId);
    assertInScope(caller, device.areaId);
    return device;
  }

  withPresence(device: Device): DeviceWithPresence {
    return { ...device, online: this.deps.link.isOnline(device.id) };
  }

  async register(caller: Caller, input: { name: string; areaId: string }): Promise<{ device: Device; secret: string }> {
    assertInScope(caller, input.areaId);
    return this.deps.devices.create(input);
  }

  async update(caller: Caller, deviceId: string, patch: Parameters<DeviceRepo['update']>[1]): Promise<DeviceWithPresence> {
    await this.visible(caller, deviceId);
    if (patch.areaId) assertInScope(caller, patch.areaId);
    const device = await this.deps.devices.update(deviceId, patch);
    // A disabled device is cut off at once; it is refused at its next connect.
    if (patch.disabled) this.deps.link.disconnectDevice(device.id);
    this.deps.refresh([device.id]);
    return this.withPresence(device);
  }

  /** A new secret: the old one stops working at once and the device is disconnected. */
  async rotateSecret(caller: Caller, deviceId: string): Promise<{ device: DeviceWithPresence; secret: string }> {
    await this.visible(caller, deviceId);
    const secret = await this.deps.devices.rotateSecret(deviceId);
    this.deps.link.disconnectDevice(deviceId);
    return { device: this.withPresence(await this.deps.devices.require(deviceId)), secret };
  }

  async remove(caller: Caller, deviceId: string): Promise<void> {
    await this.visible(caller, deviceId);
    await this.deps.devices.delete(deviceId);
    this.deps.link.disconnectDevice(deviceId);
  }

  /** Records a command and sends it; `delivered` says whether the device was online to get it now. */
  async command(caller: Caller, deviceId: string, request: CommandRequest): Promise<CommandRecord & { delivered: boolean }> {
    const device = await this.visible(caller, deviceId);
    const { record, message } = await this.deps.commands.create({
      deviceId: device.id,
      type: request.type,
      params: request.params,
      issuedBy: caller.user.id,
      ttlMs: (request.timeoutSec ?? 30) * 1000,
    });
    await this.deps.link.publishToDevice(device.id, 'cmd', message);
    return { ...record, delivered: this.deps.link.isOnline(device.id) };
  }

  /** One of the device's commands (404 when it belongs to another device). */
  async commandOf(caller: Caller, deviceId: string, commandId: string): Promise<CommandRecord | null> {
    await this.visible(caller, deviceId);
    const record = await this.deps.commands.get(commandId);
    return record && record.deviceId === deviceId ? record : null;
  }
}
