/** Speakers: the registry, their health, conditions, commands and alarms. */
import { Type, type Static } from '@sinclair/typebox';
import { ALARM_KINDS, type CommandStatus } from '@loalang/broker';
import { CommandResult, CommandType, DeviceEvent, ServerKey, Telemetry as TelemetryMessage } from '@loalang/protocol';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const PositionSchema = Type.Object({ lat: Type.Number(), lon: Type.Number() }, { description: 'WGS 84' });

/** A device as the registry keeps it (never its secret). `latestTelemetry` is the device's last message as it sent it. */
export const DeviceSchema = Type.Object({
  id: Id,
  name: Type.String(),
  areaId: Type.String(),
  disabled: Type.Boolean(),
  online: Type.Boolean(),
  lastSeenAt: Nullable(Instant),
  agentVersion: Nullable(Type.String()),
  agentArch: Nullable(Type.String({ description: "the box's CPU (x64, arm64), as it last said" })),
  reportedVersion: Nullable(Type.Integer({ description: 'the desired-state version the device last said it holds' })),
  latestTelemetry: Nullable(TelemetryMessage),
  position: Nullable(PositionSchema),
  createdAt: Instant,
});
export type Device = Static<typeof DeviceSchema>;
export type Telemetry = Static<typeof TelemetryMessage>;

/** GET /devices: each with its count of active alarms. */
export const DeviceListItemSchema = Type.Object({ ...DeviceSchema.properties, activeAlarms: Type.Integer() });
export type DeviceListItem = Static<typeof DeviceListItemSchema>;

export const PresenceChangeSchema = Type.Object({ online: Type.Boolean(), cause: Type.String(), at: Instant });

/** GET /devices/:id: with the last 20 presence changes. */
export const DeviceDetailSchema = Type.Object({ ...DeviceSchema.properties, presenceHistory: Type.Array(PresenceChangeSchema) });
export type DeviceDetail = Static<typeof DeviceDetailSchema>;

/** The agent config a device gets with its secret (API.md "Agent config"). */
export const AgentConfigSchema = Type.Object({
  deviceId: Type.String(),
  password: Type.String(),
  mqttUrl: Type.String(),
  httpUrl: Type.String(),
  cacheDir: Type.String(),
  serial: Type.Object({ path: Type.String(), baudRate: Type.Integer(), driver: Type.String() }),
  audioSink: Type.String(),
  serverKeys: Type.Array(ServerKey, { description: 'the downlink signing keys to trust (decision 0016)' }),
  releaseKeys: Type.Optional(Type.Array(ServerKey, { description: 'the release keys agent releases must be signed by (issue 20), when the server has them' })),
  caFile: Type.Optional(Type.String({ description: 'over TLS: the CA the device pins' })),
});
export type AgentConfig = Static<typeof AgentConfigSchema>;

/** POST /devices and rotate-secret: the device with its new secret, shown this once. */
export const DeviceCredentialsSchema = Type.Object({
  ...DeviceSchema.properties,
  mqttUsername: Type.String(),
  mqttPassword: Type.String({ description: 'the secret; never stored in clear, never shown again' }),
  agentConfig: AgentConfigSchema,
});
export type DeviceCredentials = Static<typeof DeviceCredentialsSchema>;

export const TelemetrySampleSchema = Type.Object({ at: Instant, telemetry: TelemetryMessage });
export type TelemetrySample = Static<typeof TelemetrySampleSchema>;

export const HourlyTelemetrySchema = Type.Object({
  hour: Instant,
  samples: Type.Integer(),
  cpuLoadAvg: Nullable(Type.Number()),
  cpuTemperatureMaxC: Nullable(Type.Number()),
  ampTemperatureMaxC: Nullable(Type.Number()),
  memUsedMaxBytes: Nullable(Type.Number()),
  diskFreeMinBytes: Nullable(Type.Number()),
  signalAvgPercent: Nullable(Type.Number()),
});
export type HourlyTelemetry = Static<typeof HourlyTelemetrySchema>;

/** GET /devices/:id/telemetry: raw samples, or hourly aggregates with `resolution=hourly`. */
export const TelemetryHistorySchema = Type.Union([Type.Array(TelemetrySampleSchema), Type.Array(HourlyTelemetrySchema)]);

const { v: _v, ...eventFields } = DeviceEvent.properties;
/** A condition a device raised or cleared, as it sent it. */
export const DeviceConditionSchema = Type.Object({ ...eventFields, deviceId: Type.String() });
export type DeviceCondition = Static<typeof DeviceConditionSchema>;

export const DeviceConditionsSchema = Type.Object({
  active: Type.Array(DeviceConditionSchema, { description: 'conditions whose latest event is still active' }),
  history: Type.Array(DeviceConditionSchema, { description: 'the last 100 events, newest first' }),
});
export type DeviceConditions = Static<typeof DeviceConditionsSchema>;

const COMMAND_STATUSES = ['sent', 'succeeded', 'failed', 'expired'] as const satisfies readonly CommandStatus[];

export const CommandRecordSchema = Type.Object({
  id: Id,
  deviceId: Type.String(),
  type: CommandType,
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  issuedBy: Nullable(Type.String()),
  issuedAt: Instant,
  expiresAt: Instant,
  status: StringEnum(COMMAND_STATUSES, { description: 'a command never answered reads as expired once its time is up' }),
  result: Nullable(CommandResult),
  completedAt: Nullable(Instant),
});
export type CommandRecord = Static<typeof CommandRecordSchema>;

/** POST /devices/:id/commands: the record, and whether the device was online to get it. */
export const CommandSentSchema = Type.Object({ ...CommandRecordSchema.properties, delivered: Type.Boolean() });
export type CommandSent = Static<typeof CommandSentSchema>;

/** An alarm as people read it: its label in both languages and the device's name. */
export const AlarmSchema = Type.Object({
  id: Id,
  deviceId: Type.String(),
  deviceName: Type.String(),
  kind: StringEnum(ALARM_KINDS),
  label: Type.String(),
  labelVi: Type.String(),
  detail: Nullable(Type.String()),
  raisedAt: Instant,
  clearedAt: Nullable(Instant),
  ackedAt: Nullable(Instant),
  ackedBy: Nullable(Type.String({ description: 'the user who acknowledged it' })),
});
export type Alarm = Static<typeof AlarmSchema>;
