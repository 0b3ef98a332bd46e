/**
 * The server's tables as Kysely sees them (issue 16): one set of types for SQLite and PostgreSQL.
 * Times are ISO-8601 text and flags are 0/1 integers in both dialects, so a row reads the same
 * whichever database holds it. Keep in step with `migrations.ts` (tests/schema-parity checks both).
 */
import type { ColumnType, Generated } from 'kysely';

export interface AlarmsTable {
  id: string;
  device_id: string;
  kind: string;
  detail: string | null;
  raised_at: string;
  cleared_at: string | null;
  acked_at: string | null;
  acked_by: string | null;
}

export interface AlertDeliveriesTable {
  alert_id: string;
  device_id: string;
  state: string;
  reason: string | null;
  played: ColumnType<number, number | undefined, number>;
  started_at: string | null;
  updated_at: string;
}

export interface AlertsTable {
  id: string;
  title: string;
  text: string | null;
  content_id: string;
  priority: string;
  targets_json: string;
  repeat: number;
  gap_ms: number;
  volume: number | null;
  start_at: string;
  expires_at: string;
  state: string;
  replaces: string | null;
  replaced_by: string | null;
  cap_json: string | null;
  created_by: string | null;
  created_at: string;
  ended_at: string | null;
}

export interface AreasTable {
  id: string;
  name: string;
  parent_id: string | null;
  timezone: string | null;
  created_at: string;
  quiet_hours_json: string | null;
  schedule_approval: string | null;
  geocodes_json: string | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  user_id: string | null;
  username: string | null;
  area_id: string | null;
  source: string | null;
  action: string;
  target: string | null;
  status: number | null;
  detail_json: string | null;
  /** The server node that wrote the entry (issue 17). */
  node_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface CommandsTable {
  id: string;
  device_id: string;
  type: string;
  params_json: string;
  issued_by: string | null;
  issued_at: string;
  expires_at: string;
  status: string;
  result_json: string | null;
  completed_at: string | null;
}

export interface ContentTable {
  id: string;
  title: string;
  area_id: string;
  original_name: string | null;
  mime_type: string;
  sha256: string;
  size_bytes: number;
  duration_ms: number;
  source_json: string;
  created_by: string | null;
  created_at: string;
  kind: ColumnType<string, string | undefined, string>;
  speech_key: string | null;
}

export interface DeviceDesiredTable {
  device_id: string;
  version: number;
  plays_json: string;
  digest: string;
  issued_at: string;
}

export interface DeviceEventsTable {
  event_id: string;
  device_id: string;
  kind: string;
  code: string | null;
  active: number;
  detail: string | null;
  at: string;
  received_at: string;
}

export interface DevicesTable {
  id: string;
  name: string;
  area_id: string;
  secret_hash: string;
  disabled: ColumnType<number, number | undefined, number>;
  online: ColumnType<number, number | undefined, number>;
  last_seen_at: string | null;
  agent_version: string | null;
  agent_arch: string | null;
  latest_telemetry: string | null;
  reported_version: number | null;
  created_at: string;
  lat: number | null;
  lon: number | null;
  /** The cluster node the device is connected to (issue 17); null on a single server or when never connected. */
  node_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** HMAC of the device's secret under the cluster key, set after one argon2 check (devices.ts verify). */
  auth_mac: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the recorded connection began, in ms on the database server's clock (presence-writes.ts); PostgreSQL's BIGINT arrives as text. */
  connected_at_ms: ColumnType<number | string | null, number | null | undefined, number | null>;
}

export interface ClusterNodesTable {
  id: string;
  started_at: string;
  /** The database server's clock (ms since the epoch) at the node's last heartbeat. */
  seen_at_ms: number;
  secret_check: string;
}

export interface DownlinkSequenceTable {
  id: Generated<number>;
  reserved_to: number;
}

export interface IssuedPlaysTable {
  device_id: string;
  play_id: string;
  content_id: string;
  schedule_id: string;
  duration_ms: number;
  start_at: string;
}

export interface LoginThrottleTable {
  username: string;
  source: string;
  failures: ColumnType<number, number | undefined, number>;
  last_failure_at: string | null;
  blocked_until: string | null;
  succeeded_at: string | null;
}

export interface OutboxTable {
  seq: Generated<number>;
  id: string;
  channel: string;
  kind: string;
  dedupe_key: string | null;
  body: string;
  state: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  retried_at: string | null;
  delivered_at: string | null;
}

export interface PresenceHistoryTable {
  id: Generated<number>;
  device_id: string;
  online: number;
  cause: string;
  at: string;
}

export interface RefusedReportsTable {
  report_id: string;
  device_id: string;
  play_id: string;
  status: string;
  played_ms: number;
  refusal: string;
  report_json: string;
  received_at: string;
}

export interface ReportsTable {
  report_id: string;
  device_id: string;
  play_id: string;
  schedule_id: string;
  content_id: string;
  status: string;
  reason: string | null;
  scheduled_at: string;
  started_at: string | null;
  ended_at: string | null;
  played_ms: number;
  amp_error: string | null;
  received_at: string;
}

export interface ScheduleTargetsTable {
  schedule_id: string;
  kind: string;
  target_id: string;
}

export interface SchedulesTable {
  id: string;
  title: string;
  area_id: string;
  priority: string;
  start_at: string;
  items_json: string;
  volume: number | null;
  status: string;
  created_by: string | null;
  approved_by: string | null;
  approved_at: string | null;
  created_at: string;
  updated_at: string;
  recurrence_json: string | null;
  repeat_count: ColumnType<number, number | undefined, number>;
  repeat_gap_sec: ColumnType<number, number | undefined, number>;
}

export interface SessionsTable {
  token_hash: string;
  user_id: string;
  created_at: string;
  expires_at: string;
}

export interface SigningKeysTable {
  kid: string;
  public_key: string;
  private_key_pem: string | null;
  state: string;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
}

export interface StreamSourcesTable {
  id: string;
  name: string;
  url: string;
  area_id: string;
  created_by: string | null;
  created_at: string;
}

export interface TelemetryTable {
  device_id: string;
  at: string;
  data: string;
}

export interface TelemetryHourlyTable {
  device_id: string;
  hour: string;
  samples: number;
  cpu_load_sum: ColumnType<number, number | undefined, number>;
  cpu_load_n: ColumnType<number, number | undefined, number>;
  cpu_temp_max: number | null;
  amp_temp_max: number | null;
  mem_used_max: number | null;
  disk_free_min: number | null;
  signal_sum: ColumnType<number, number | undefined, number>;
  signal_n: ColumnType<number, number | undefined, number>;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  area_id: string;
  disabled: ColumnType<number, number | undefined, number>;
  created_at: string;
  failed_logins: ColumnType<number, number | undefined, number>;
  locked_until: string | null;
  /** 'person', or 'service' for a service account's row (issue 21). */
  kind: ColumnType<string, string | undefined, string>;
}

/** Issue 21: a service account's API key (its SHA-256) and lifetime; its role and area are in its `users` row. */
export interface ServiceAccountsTable {
  id: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  key_prefix: string;
  key_hash: string;
  rate_limit_per_minute: ColumnType<number, number, number>;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  rotated_at: string | null;
  last_used_at: string | null;
  last_used_from: string | null;
}

export interface WebhooksTable {
  id: string;
  name: string;
  description: ColumnType<string, string | undefined, string>;
  url: string;
  secret: string;
  events_json: string;
  area_id: string;
  active: ColumnType<number, number | undefined, number>;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface LiveSessionsTable {
  id: string;
  area_ids_json: string;
  priority: 'priority' | 'emergency';
  title: string | null;
  volume: number | null;
  created_by: string | null;
  created_at: string;
  ticket_hash: string | null;
  ticket_expires_at: string | null;
  node_id: string | null;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  frames_json: string | null;
  content_id: string | null;
  recording_error: string | null;
}

export interface ReleasesTable {
  id: string;
  version: string;
  arch: string;
  node_abi: string | null;
  min_previous_version: string;
  sha256: string;
  size_bytes: number;
  files: number;
  signed_by: string;
  uploaded_by: string | null;
  created_at: string;
}

export interface RolloutsTable {
  id: string;
  release_id: string;
  area_ids_json: string;
  device_ids_json: string;
  waves_json: string;
  failure_threshold: number;
  confirm_within_ms: number;
  state: 'running' | 'paused' | 'halted' | 'cancelled' | 'done';
  wave: number;
  halt_reason: string | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  ended_at: string | null;
}

export interface RolloutDevicesTable {
  rollout_id: string;
  device_id: string;
  wave: number;
  state: string;
  reason: string | null;
  offered_at: string | null;
  updated_at: string;
}

/** Issue 21 item 2: a bulletin an upstream system delivered, one per caller and upstream id. */
export interface BulletinsTable {
  id: string;
  source_id: string;
  upstream_id: string;
  request_hash: string;
  title: string;
  priority: 'normal' | 'priority' | 'emergency';
  valid_from: string;
  valid_until: string | null;
  area_ids_json: string;
  unmatched_codes_json: string;
  content_id: string | null;
  schedule_id: string | null;
  alert_id: string | null;
  state: string;
  reason: string | null;
  outcome_json: string | null;
  created_at: string;
  updated_at: string;
}

export interface Schema {
  alarms: AlarmsTable;
  alert_deliveries: AlertDeliveriesTable;
  alerts: AlertsTable;
  areas: AreasTable;
  audit_log: AuditLogTable;
  bulletins: BulletinsTable;
  cluster_nodes: ClusterNodesTable;
  commands: CommandsTable;
  content: ContentTable;
  device_desired: DeviceDesiredTable;
  device_events: DeviceEventsTable;
  devices: DevicesTable;
  downlink_sequence: DownlinkSequenceTable;
  issued_plays: IssuedPlaysTable;
  live_sessions: LiveSessionsTable;
  login_throttle: LoginThrottleTable;
  outbox: OutboxTable;
  presence_history: PresenceHistoryTable;
  refused_reports: RefusedReportsTable;
  releases: ReleasesTable;
  rollout_devices: RolloutDevicesTable;
  rollouts: RolloutsTable;
  reports: ReportsTable;
  service_accounts: ServiceAccountsTable;
  schedule_targets: ScheduleTargetsTable;
  schedules: SchedulesTable;
  sessions: SessionsTable;
  signing_keys: SigningKeysTable;
  stream_sources: StreamSourcesTable;
  telemetry: TelemetryTable;
  telemetry_hourly: TelemetryHourlyTable;
  users: UsersTable;
  webhooks: WebhooksTable;
}
