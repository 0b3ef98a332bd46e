/**
 * One TypeBox schema per MQTT message of protocol v1. The same schemas validate
 * payloads at the edge where they enter and give the static types.
 * `v` is the protocol version; receivers drop messages of an unknown version.
 */
import { Type, type Static } from '@sinclair/typebox';
import { QuietHours } from './quiet-hours.js';
import { LiveMessage, LiveStatus } from './live.js';

const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Instant = Type.String({ format: 'date-time', description: 'UTC instant, ISO 8601' });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const V = Type.Literal(1);

export const Priority = Type.Union([Type.Literal('normal'), Type.Literal('priority'), Type.Literal('emergency')]);
export type Priority = Static<typeof Priority>;

/**
 * What an agent says it understands beyond protocol v1 as first published, in its `online`
 * status: the server uses a feature only with an agent that named it, so older agents keep
 * working unchanged.
 *  - `report-ack-many`: a `ReportAck` may acknowledge several reports (`moreReportIds`).
 *  - `live`: it plays live announcements (issue 18, decision 0025).
 */
export const AGENT_FEATURES = ['report-ack-many', 'live'] as const;
export type AgentFeature = (typeof AGENT_FEATURES)[number];

/**
 * What the server accepts beyond protocol v1 as first published, in every `time/reply` (an
 * agent measures its clock on each connect, so it learns them within a round trip): an agent
 * uses a feature only with a server that named it, so older servers keep working unchanged.
 *  - `report-batch`: the server takes several play reports in one message on `dev/<id>/reports`.
 */
export const SERVER_FEATURES = ['report-batch'] as const;
export type ServerFeature = (typeof SERVER_FEATURES)[number];

/** Retained on `dev/<id>/status`; the MQTT last will carries `offline`. */
export const StatusMessage = Type.Object({
  v: V,
  state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  at: Type.Optional(Instant),
  agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
  /** See AGENT_FEATURES; names the receiver does not know are ignored. */
  features: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
});
export type StatusMessage = Static<typeof StatusMessage>;

/** One planned play of one content item on one device. */
export const DesiredPlay = Type.Object({
  playId: Id,
  scheduleId: Id,
  contentId: Id,
  sha256: Sha256,
  url: Type.String({ maxLength: 2048, description: 'HTTP(S) URL the agent fetches the audio from' }),
  /**
   * Set for a stream relay (tiếp sóng): the agent plays this live HTTP/Icecast/HLS stream for
   * `durationMs` from `startAt`, reconnecting when it drops. `url` is the same URL, `sha256`
   * the hash of the URL (there is no file to cache or verify) and `contentId` `relay-…`.
   */
  streamUrl: Type.Optional(Type.String({ maxLength: 2048, pattern: '^https?://' })),
  durationMs: Type.Integer({ minimum: 0 }),
  startAt: Instant,
  priority: Priority,
  volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  title: Type.Optional(Type.String({ maxLength: 200 })),
});
export type DesiredPlay = Static<typeof DesiredPlay>;

/** One of the server's Ed25519 signing keys, as devices pin it (decision 0016). */
export const ServerKey = Type.Object(
  {
    /** First 9 bytes of SHA-256 of the raw public key, base64url. */
    kid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
    /** Raw 32-byte public key, base64url. */
    publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  },
  { additionalProperties: false },
);
export type ServerKey = Static<typeof ServerKey>;

/** The most plays one desired state carries (the schema's limit). */
export const MAX_DESIRED_PLAYS = 5000;
/**
 * The serialised plays of one desired state stay under this, so the signed message (plays,
 * keys, envelope) stays under the 1 MiB a device accepts: the server cuts a runaway programme
 * to fit rather than send a state the speaker refuses (issue 14).
 */
export const MAX_DESIRED_PLAYS_BYTES = 960 * 1024;

/** Server → device on `dev/<id>/desired`: the full programme of the next hours, versioned. */
export const DesiredState = Type.Object({
  v: V,
  deviceId: Id,
  version: Type.Integer({ minimum: 0 }),
  issuedAt: Instant,
  horizonUntil: Instant,
  plays: Type.Array(DesiredPlay, { maxItems: MAX_DESIRED_PLAYS }),
  /** The device's area quiet hours with their timezone: the agent skips non-emergency plays in them. */
  quietHours: Type.Optional(QuietHours),
  /** The device's area and every area above it: the agent listens for alerts on each one's topic. */
  areaIds: Type.Optional(Type.Array(Id, { maxItems: 64 })),
  /**
   * The server's signing keys the device should trust from now on (key rotation, decision
   * 0016): the active key and the next one. Only ever believed inside a verified envelope.
   */
  serverKeys: Type.Optional(Type.Array(ServerKey, { minItems: 1, maxItems: 4 })),
});
export type DesiredState = Static<typeof DesiredState>;

/** Device → server on `dev/<id>/reported`: what the agent applied and holds. */
export const ReportedState = Type.Object({
  v: V,
  version: Type.Integer({ minimum: 0 }),
  at: Instant,
  cachedContentIds: Type.Array(Id, { maxItems: 10000 }),
  missingContentIds: Type.Array(Id, { maxItems: 10000 }),
  agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
  /** The box's CPU as Node names it (`process.arch`: x64, arm64): a rollout offers it the bundle built for it. */
  arch: Type.Optional(Type.String({ maxLength: 16, pattern: '^[a-z0-9]+$' })),
});
export type ReportedState = Static<typeof ReportedState>;

export const PlayStatus = Type.Union([
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('interrupted'),
  Type.Literal('skipped'),
]);
export type PlayStatus = Static<typeof PlayStatus>;

/** Device → server on `dev/<id>/report`: one play's outcome; `reportId` is made by the agent. */
export const PlayReport = Type.Object({
  v: V,
  reportId: Id,
  playId: Id,
  scheduleId: Id,
  contentId: Id,
  status: PlayStatus,
  reason: Type.Optional(Type.String({ maxLength: 500 })),
  scheduledAt: Instant,
  startedAt: Type.Optional(Instant),
  endedAt: Type.Optional(Instant),
  playedMs: Type.Integer({ minimum: 0 }),
  ampError: Type.Optional(Type.String({ maxLength: 500 })),
});
export type PlayReport = Static<typeof PlayReport>;

/** Reports one `reports` message carries at most (about 30 KiB of JSON; 150 KiB if every text field were full). */
export const MAX_REPORTS_PER_BATCH = 100;

/**
 * Device → server on `dev/<id>/reports`, only to a server that named `report-batch`: an
 * outbox's pending reports in one message, each stored and acknowledged as if sent alone.
 */
export const ReportBatch = Type.Object({
  v: V,
  reports: Type.Array(PlayReport, { minItems: 1, maxItems: MAX_REPORTS_PER_BATCH }),
});
export type ReportBatch = Static<typeof ReportBatch>;

/** Report ids one ack carries at most (`reportId` and `moreReportIds` together). */
export const MAX_REPORTS_PER_ACK = 500;

/**
 * Server → device on `dev/<id>/report/ack`, sent only after the report rows are committed.
 * `moreReportIds`: further reports this ack covers, sent only to an agent whose `online` status
 * named `report-ack-many` (one signed message for a device's reports stored together).
 */
export const ReportAck = Type.Object({
  v: V,
  reportId: Id,
  moreReportIds: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: MAX_REPORTS_PER_ACK - 1 })),
});
export type ReportAck = Static<typeof ReportAck>;

export const CommandType = Type.Union([
  Type.Literal('volume'),
  Type.Literal('test-tone'),
  Type.Literal('amp-test'),
  Type.Literal('restart'),
  Type.Literal('sync'),
  Type.Literal('logs'),
]);
export type CommandType = Static<typeof CommandType>;

/** Server → device on `dev/<id>/cmd`. */
export const Command = Type.Object({
  v: V,
  commandId: Id,
  type: CommandType,
  params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
  issuedAt: Instant,
  expiresAt: Type.Optional(Instant),
});
export type Command = Static<typeof Command>;

/** Device → server on `dev/<id>/cmd/result`. */
export const CommandResult = Type.Object({
  v: V,
  commandId: Id,
  ok: Type.Boolean(),
  at: Instant,
  result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  error: Type.Optional(Type.Object({ code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 500 }) })),
});
export type CommandResult = Static<typeof CommandResult>;

export const AmpTelemetry = Type.Object({
  power: Type.Boolean(),
  temperatureC: Type.Optional(Type.Number()),
  currentMa: Type.Optional(Type.Number()),
  faults: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
  linkOk: Type.Boolean(),
});
export type AmpTelemetry = Static<typeof AmpTelemetry>;

/** Device → server on `dev/<id>/telemetry`: periodic health. Absent fields were not measurable. */
export const Telemetry = Type.Object({
  v: V,
  at: Instant,
  agentVersion: Type.String({ maxLength: 64 }),
  uptimeSec: Type.Integer({ minimum: 0 }),
  desiredVersion: Type.Integer({ minimum: 0 }),
  playing: Type.Optional(Type.Union([Id, Type.Null()])),
  outboxPending: Type.Integer({ minimum: 0 }),
  clockOffsetMs: Type.Optional(Type.Number()),
  diskFreeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  diskTotalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  cpuLoad1: Type.Optional(Type.Number({ minimum: 0, description: '1-minute load average' })),
  cpuCount: Type.Optional(Type.Integer({ minimum: 1 })),
  cpuTemperatureC: Type.Optional(Type.Number()),
  memUsedBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  memTotalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  agentRssBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Bytes of audio in the agent's cache. */
  cacheBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** The amplifier board's serial link counters since the agent started. */
  serial: Type.Optional(
    Type.Object({
      framesSent: Type.Integer({ minimum: 0 }),
      framesReceived: Type.Integer({ minimum: 0 }),
      crcErrors: Type.Integer({ minimum: 0 }),
      timeouts: Type.Integer({ minimum: 0 }),
      retries: Type.Integer({ minimum: 0 }),
      reconnects: Type.Integer({ minimum: 0 }),
    }),
  ),
  /** From the modem (ModemManager) when one reports; never guessed. */
  network: Type.Optional(
    Type.Object({
      type: Type.String({ maxLength: 32, description: 'access technology, e.g. lte, umts' }),
      signalPercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
      operator: Type.Optional(Type.String({ maxLength: 64 })),
    }),
  ),
  amp: Type.Optional(AmpTelemetry),
});
export type Telemetry = Static<typeof Telemetry>;

/**
 * Device → server on `dev/<id>/event`: a condition raised (`active: true`) or cleared, e.g.
 * the amplifier board's serial link lost, or a fault the board reports.
 */
export const DeviceEvent = Type.Object({
  v: V,
  eventId: Id,
  at: Instant,
  kind: Type.Union([Type.Literal('amp-link'), Type.Literal('amp-fault')]),
  /** For amp-fault: which fault (over-temperature, speaker-line, mains-lost, tamper, failsafe-off). */
  code: Type.Optional(Type.String({ maxLength: 64 })),
  active: Type.Boolean(),
  detail: Type.Optional(Type.String({ maxLength: 500 })),
});
export type DeviceEvent = Static<typeof DeviceEvent>;

/**
 * Device → server on `dev/<id>/time` (QoS 0): one NTP-style probe. `t0` is the device's clock
 * (ms since the epoch) when it sent the probe.
 */
export const TimeRequest = Type.Object({ v: V, t0: Type.Number() });
export type TimeRequest = Static<typeof TimeRequest>;

/** Server → device on `dev/<id>/time/reply` (QoS 0): `t1` when the probe arrived, `t2` when this left, server clock. */
export const TimeReply = Type.Object({
  v: V,
  t0: Type.Number(),
  t1: Type.Number(),
  t2: Type.Number(),
  /** See SERVER_FEATURES; names the receiver does not know are ignored. */
  features: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
});
export type TimeReply = Static<typeof TimeReply>;

/** The audio of an alert: fetched from `url` like a schedule's, or carried inline when small. */
export const AlertAudio = Type.Object({
  contentId: Id,
  sha256: Sha256,
  url: Type.String({ maxLength: 2048 }),
  durationMs: Type.Integer({ minimum: 1 }),
  /** Base64 of the whole Ogg/Opus file, present when it is at most ALERT_INLINE_MAX_BYTES. */
  inline: Type.Optional(Type.String({ maxLength: 90_000 })),
});
export type AlertAudio = Static<typeof AlertAudio>;

/** Audio files up to this size travel inside the alert message (about 30 s of speech at 24 kb/s). */
export const ALERT_INLINE_MAX_BYTES = 65_536;

/**
 * Server → devices on `area/<areaId>/alert` (QoS 0, one publish reaches every device below the
 * area) and `dev/<id>/alert` (QoS 1: device targets, retries, replays on reconnect).
 * `startAt` is in server time: agents convert it with their measured clock offset, so all
 * speakers of an area start together. Repetitions follow at `startAt + k × (durationMs + gapMs)`.
 */
export const AlertPlay = Type.Object({
  v: V,
  type: Type.Literal('alert'),
  alertId: Id,
  /** An update: the alert it replaces stops and this one plays instead. */
  replaces: Type.Optional(Id),
  title: Type.String({ maxLength: 200 }),
  priority: Type.Union([Type.Literal('emergency'), Type.Literal('priority')]),
  issuedAt: Instant,
  startAt: Instant,
  expiresAt: Instant,
  repeat: Type.Integer({ minimum: 1, maximum: 10 }),
  gapMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
  volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  audio: AlertAudio,
});
export type AlertPlay = Static<typeof AlertPlay>;

/**
 * The play id of an alert's repetition `n` (1-based): agents give it to the play, and the
 * server reads `n` back from the play's report.
 */
export function alertPlayId(alertId: string, n: number): string {
  return `${alertId}-r${n}`;
}

/** The repetition number in an alert play id, or 0 when it is not one. */
export function alertRepetitionOf(playId: string): number {
  return Number(/-r(\d+)$/.exec(playId)?.[1] ?? 0);
}

export const AlertCancel = Type.Object({ v: V, type: Type.Literal('cancel'), alertId: Id, at: Instant });
export type AlertCancel = Static<typeof AlertCancel>;

export const AlertMessage = Type.Union([AlertPlay, AlertCancel]);
export type AlertMessage = Static<typeof AlertMessage>;

export const AlertDeliveryState = Type.Union([
  Type.Literal('received'),
  Type.Literal('started'),
  Type.Literal('finished'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
  Type.Literal('expired'),
  Type.Literal('interrupted'),
]);
export type AlertDeliveryState = Static<typeof AlertDeliveryState>;

/**
 * What the play report of an alert's repetition means for its delivery, the one reading of it
 * for agent and server alike: a repetition played to the end makes it `started`, the last one
 * `finished` (`played` counts them); one stopped because the alert was cancelled or expired
 * says so; any other stop is `interrupted`, and a play that failed or was skipped `failed`.
 */
export function deliveryAfterReport(r: { playId: string; status: PlayStatus; reason?: string }, repeat: number): { state: AlertDeliveryState; played?: number } {
  if (r.status === 'completed') {
    const played = alertRepetitionOf(r.playId);
    return { state: played >= repeat ? 'finished' : 'started', played };
  }
  if (r.status === 'interrupted') return { state: r.reason === 'cancelled' ? 'cancelled' : r.reason === 'expired' ? 'expired' : 'interrupted' };
  return { state: 'failed' };
}

/** Device → server on `dev/<id>/alert/status` (QoS 1): where this device is with one alert. */
export const AlertStatus = Type.Object({
  v: V,
  alertId: Id,
  state: AlertDeliveryState,
  at: Instant,
  /** Repetitions played to the end so far. */
  played: Type.Optional(Type.Integer({ minimum: 0 })),
  /** When the first repetition started, in server time. */
  startedAt: Type.Optional(Instant),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
});
export type AlertStatus = Static<typeof AlertStatus>;

/** Why an agent refused a downlink (decision 0016). */
export const RefusalReason = Type.Union([
  Type.Literal('unsigned'),
  Type.Literal('unknown-key'),
  Type.Literal('bad-signature'),
  Type.Literal('wrong-recipient'),
  Type.Literal('expired'),
  Type.Literal('not-yet-valid'),
  Type.Literal('replayed'),
  Type.Literal('invalid'),
]);
export type RefusalReason = Static<typeof RefusalReason>;

/**
 * Device → server on `dev/<id>/refused` (QoS 1): the agent refused a downlink. At most a few
 * per minute are sent one by one; `suppressed` counts those refused since the last report
 * that were not reported on their own.
 */
export const DownlinkRefusal = Type.Object({
  v: V,
  at: Instant,
  kind: Type.String({ maxLength: 64 }),
  reason: RefusalReason,
  detail: Type.Optional(Type.String({ maxLength: 500 })),
  seq: Type.Optional(Type.Integer({ minimum: 0 })),
  kid: Type.Optional(Type.String({ maxLength: 64 })),
  suppressed: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type DownlinkRefusal = Static<typeof DownlinkRefusal>;

/** Where a device is with a release a rollout offered it (issue 20). */
export const UpdateDeviceState = Type.Union([
  Type.Literal('offered'),
  /** Holding it back: an alert, a live announcement or a play is on (installs go between plays). */
  Type.Literal('waiting'),
  Type.Literal('downloading'),
  Type.Literal('verified'),
  /** Switched to it; the new version is starting (or started, not yet healthy). */
  Type.Literal('installed'),
  Type.Literal('confirmed'),
  Type.Literal('failed'),
  Type.Literal('rolled-back'),
  Type.Literal('refused'),
  /** The rollout was cancelled before the device installed it. */
  Type.Literal('withdrawn'),
]);
export type UpdateDeviceState = Static<typeof UpdateDeviceState>;

/**
 * Server → device on `dev/<id>/update` (QoS 1, signed): install this release (`offer`), or do not
 * after all (`withdraw`: the rollout was paused or cancelled before the device switched).
 */
export const UpdateOffer = Type.Union([
  Type.Object({
    v: V,
    type: Type.Literal('offer'),
    rolloutId: Id,
    version: Type.String({ maxLength: 32 }),
    arch: Type.String({ maxLength: 16 }),
    /** The bundle, fetched with the device's credentials (resumable, like audio). */
    url: Type.String({ maxLength: 2048 }),
    sha256: Sha256,
    size: Type.Integer({ minimum: 1 }),
    /** The new version must be healthy within this, or the box goes back. */
    confirmWithinMs: Type.Integer({ minimum: 10_000, maximum: 3_600_000 }),
    issuedAt: Instant,
  }),
  Type.Object({ v: V, type: Type.Literal('withdraw'), rolloutId: Id, at: Instant }),
]);
export type UpdateOffer = Static<typeof UpdateOffer>;

/** Device → server on `dev/<id>/update/status` (QoS 1): each step of an update, and its outcome. */
export const UpdateStatus = Type.Object({
  v: V,
  rolloutId: Type.Union([Id, Type.Null()]),
  /** The release this is about. */
  version: Type.String({ maxLength: 32 }),
  state: UpdateDeviceState,
  /** Why it failed, rolled back or was refused; what it waits for. */
  reason: Type.Optional(Type.String({ maxLength: 500 })),
  /** The version the agent sending this runs. */
  running: Type.String({ maxLength: 32 }),
  at: Instant,
});
export type UpdateStatus = Static<typeof UpdateStatus>;

/** Topic kind → payload schema, one typed map for both sides. */
export const MessageSchemas = {
  status: StatusMessage,
  desired: DesiredState,
  reported: ReportedState,
  report: PlayReport,
  reports: ReportBatch,
  'report/ack': ReportAck,
  cmd: Command,
  'cmd/result': CommandResult,
  telemetry: Telemetry,
  event: DeviceEvent,
  time: TimeRequest,
  'time/reply': TimeReply,
  alert: AlertMessage,
  'alert/status': AlertStatus,
  refused: DownlinkRefusal,
  live: LiveMessage,
  'live/status': LiveStatus,
  update: UpdateOffer,
  'update/status': UpdateStatus,
} as const;
export type MessageKind = keyof typeof MessageSchemas;
export type MessageOf<K extends MessageKind> = Static<(typeof MessageSchemas)[K]>;
