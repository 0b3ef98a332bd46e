/** Fleet updates (issue 20): agent releases, rollouts, and each device's state in one. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const UPDATE_DEVICE_STATES = ['offered', 'waiting', 'downloading', 'verified', 'installed', 'confirmed', 'failed', 'rolled-back', 'refused', 'withdrawn'] as const;
export const ROLLOUT_STATES = ['running', 'paused', 'halted', 'cancelled', 'done'] as const;

export const ReleaseSchema = Type.Object({
  id: Id,
  version: Type.String(),
  arch: Type.String({ description: 'x64 or arm64' }),
  nodeAbi: Nullable(Type.String({ description: 'the Node ABI its compiled modules need (null: any Node)' })),
  minPreviousVersion: Type.String({ description: 'boxes older than this refuse it' }),
  sha256: Type.String(),
  sizeBytes: Type.Integer(),
  files: Type.Integer(),
  signedBy: Type.String({ description: 'the release key (its id) that signed it' }),
  uploadedBy: Nullable(Type.String()),
  createdAt: Instant,
});
export type Release = Static<typeof ReleaseSchema>;
export const ReleaseListItemSchema = Type.Intersect([ReleaseSchema, Type.Object({ uploadedByName: Nullable(Type.String({ description: 'who uploaded it (their username), while the account exists' })) })]);
export type ReleaseListItem = Static<typeof ReleaseListItemSchema>;
export const ReleasesSchema = Type.Object({ releases: Type.Array(ReleaseListItemSchema), keys: Type.Array(Type.Object({ kid: Type.String(), publicKey: Type.String() }), { description: 'the release keys uploads must be signed by' }) });
export type Releases = Static<typeof ReleasesSchema>;

export const RolloutSchema = Type.Object({
  id: Id,
  releaseId: Id,
  areaIds: Type.Array(Type.String()),
  deviceIds: Type.Array(Type.String()),
  waves: Type.Array(Type.Number(), { description: 'cumulative percentages of its devices, e.g. [1, 10, 100]' }),
  failureThreshold: Type.Number({ description: 'the fraction of a wave that may fail before the rollout halts' }),
  confirmWithinMs: Type.Integer(),
  state: StringEnum(ROLLOUT_STATES),
  wave: Type.Integer({ description: 'the wave under way, from 0' }),
  haltReason: Nullable(Type.String()),
  createdBy: Nullable(Type.String()),
  createdAt: Instant,
  updatedAt: Instant,
  endedAt: Nullable(Instant),
});
export type Rollout = Static<typeof RolloutSchema>;
export const RolloutsSchema = Type.Object({ rollouts: Type.Array(RolloutSchema) });
export type Rollouts = Static<typeof RolloutsSchema>;

export const RolloutDeviceSchema = Type.Object({
  deviceId: Type.String(),
  wave: Type.Integer(),
  state: StringEnum(UPDATE_DEVICE_STATES),
  reason: Nullable(Type.String()),
  offeredAt: Nullable(Instant),
  updatedAt: Instant,
});
export type RolloutDevice = Static<typeof RolloutDeviceSchema>;

export const RolloutViewSchema = Type.Intersect([
  RolloutSchema,
  Type.Object({
    release: ReleaseSchema,
    devices: Type.Array(RolloutDeviceSchema),
    totals: Type.Record(Type.String(), Type.Integer()),
    failed: Type.Integer(),
  }),
]);
export type RolloutView = Static<typeof RolloutViewSchema>;

export const DeviceUpdateSchema = Type.Object({
  deviceId: Type.String(),
  agentVersion: Nullable(Type.String({ description: 'the version the device last said it runs' })),
  update: Nullable(
    Type.Object(
      {
        rolloutId: Id,
        rolloutState: StringEnum(ROLLOUT_STATES),
        releaseId: Id,
        version: Type.String({ description: 'the version the rollout brings' }),
        wave: Type.Integer({ description: "the device's wave in it, from 0" }),
        state: StringEnum(UPDATE_DEVICE_STATES),
        reason: Nullable(Type.String()),
        offeredAt: Nullable(Instant),
        updatedAt: Instant,
      },
      { description: 'its place in the latest rollout that included it (null: none ever did)' },
    ),
  ),
});
export type DeviceUpdate = Static<typeof DeviceUpdateSchema>;
