/**
 * Numbered migrations, applied in order inside one transaction each.
 * Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  /** The same step for PostgreSQL. */
  postgres: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'foundation',
    sqlite: `
CREATE TABLE areas (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  parent_id TEXT REFERENCES areas(id),
  timezone TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX areas_parent ON areas(parent_id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  secret_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  online INTEGER NOT NULL DEFAULT 0,
  last_seen_at TEXT,
  agent_version TEXT,
  latest_telemetry TEXT,
  reported_version INTEGER,
  created_at TEXT NOT NULL
);
CREATE INDEX devices_area ON devices(area_id);

CREATE TABLE presence_history (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  online INTEGER NOT NULL,
  cause TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX presence_device_at ON presence_history(device_id, at);

CREATE TABLE content (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  original_name TEXT,
  mime_type TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  source_json TEXT NOT NULL,
  created_by TEXT REFERENCES users(id),
  created_at TEXT NOT NULL
);
CREATE INDEX content_area ON content(area_id);

CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  priority TEXT NOT NULL,
  start_at TEXT NOT NULL,
  items_json TEXT NOT NULL,
  volume INTEGER,
  status TEXT NOT NULL,
  created_by TEXT REFERENCES users(id),
  approved_by TEXT REFERENCES users(id),
  approved_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE schedule_targets (
  schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('area', 'device')),
  target_id TEXT NOT NULL,
  PRIMARY KEY (schedule_id, kind, target_id)
);
CREATE INDEX schedule_targets_target ON schedule_targets(kind, target_id);

CREATE TABLE device_desired (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  plays_json TEXT NOT NULL,
  digest TEXT NOT NULL,
  issued_at TEXT NOT NULL
);

CREATE TABLE reports (
  report_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  schedule_id TEXT NOT NULL,
  content_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  scheduled_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  played_ms INTEGER NOT NULL,
  amp_error TEXT,
  received_at TEXT NOT NULL
);
CREATE INDEX reports_device_time ON reports(device_id, scheduled_at);
CREATE INDEX reports_time ON reports(scheduled_at);

CREATE TABLE commands (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  params_json TEXT NOT NULL,
  issued_by TEXT REFERENCES users(id),
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  status TEXT NOT NULL,
  result_json TEXT,
  completed_at TEXT
);
CREATE INDEX commands_device ON commands(device_id, issued_at);
`,
    postgres: `
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE areas (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  parent_id TEXT REFERENCES areas(id),
  timezone TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX areas_parent ON areas(parent_id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE nocase,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  disabled BIGINT NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  secret_hash TEXT NOT NULL,
  disabled BIGINT NOT NULL DEFAULT 0,
  online BIGINT NOT NULL DEFAULT 0,
  last_seen_at TEXT,
  agent_version TEXT,
  latest_telemetry TEXT,
  reported_version BIGINT,
  created_at TEXT NOT NULL
);
CREATE INDEX devices_area ON devices(area_id);

CREATE TABLE presence_history (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  online BIGINT NOT NULL,
  cause TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX presence_device_at ON presence_history(device_id, at);

CREATE TABLE content (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  original_name TEXT,
  mime_type TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  source_json TEXT NOT NULL,
  created_by TEXT REFERENCES users(id),
  created_at TEXT NOT NULL
);
CREATE INDEX content_area ON content(area_id);

CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  priority TEXT NOT NULL,
  start_at TEXT NOT NULL,
  items_json TEXT NOT NULL,
  volume BIGINT,
  status TEXT NOT NULL,
  created_by TEXT REFERENCES users(id),
  approved_by TEXT REFERENCES users(id),
  approved_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE schedule_targets (
  schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('area', 'device')),
  target_id TEXT NOT NULL,
  PRIMARY KEY (schedule_id, kind, target_id)
);
CREATE INDEX schedule_targets_target ON schedule_targets(kind, target_id);

CREATE TABLE device_desired (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  version BIGINT NOT NULL,
  plays_json TEXT NOT NULL,
  digest TEXT NOT NULL,
  issued_at TEXT NOT NULL
);

CREATE TABLE reports (
  report_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  schedule_id TEXT NOT NULL,
  content_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  scheduled_at TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  played_ms BIGINT NOT NULL,
  amp_error TEXT,
  received_at TEXT NOT NULL
);
CREATE INDEX reports_device_time ON reports(device_id, scheduled_at);
CREATE INDEX reports_time ON reports(scheduled_at);

CREATE TABLE commands (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  params_json TEXT NOT NULL,
  issued_by TEXT REFERENCES users(id),
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  status TEXT NOT NULL,
  result_json TEXT,
  completed_at TEXT
);
CREATE INDEX commands_device ON commands(device_id, issued_at);
`
  },
  {
    version: 2,
    name: 'device events',
    sqlite: `
CREATE TABLE device_events (
  event_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  code TEXT,
  active INTEGER NOT NULL,
  detail TEXT,
  at TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX device_events_device_at ON device_events(device_id, at);
`,
    postgres: `
CREATE TABLE device_events (
  event_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  code TEXT,
  active BIGINT NOT NULL,
  detail TEXT,
  at TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX device_events_device_at ON device_events(device_id, at);
`
  },
  {
    version: 3,
    name: 'recurring schedules',
    sqlite: `ALTER TABLE schedules ADD COLUMN recurrence_json TEXT;`,
    postgres: `ALTER TABLE schedules ADD COLUMN recurrence_json TEXT;`
  },
  {
    version: 4,
    name: 'repeat and quiet hours',
    sqlite: `
ALTER TABLE schedules ADD COLUMN repeat_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE schedules ADD COLUMN repeat_gap_sec INTEGER NOT NULL DEFAULT 0;
ALTER TABLE areas ADD COLUMN quiet_hours_json TEXT;
`,
    postgres: `
ALTER TABLE schedules ADD COLUMN repeat_count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE schedules ADD COLUMN repeat_gap_sec BIGINT NOT NULL DEFAULT 0;
ALTER TABLE areas ADD COLUMN quiet_hours_json TEXT;
`
  },
  {
    version: 5,
    name: 'per-area schedule approval',
    sqlite: `ALTER TABLE areas ADD COLUMN schedule_approval TEXT CHECK (schedule_approval IN ('none', 'operators', 'all'));`,
    postgres: `ALTER TABLE areas ADD COLUMN schedule_approval TEXT CHECK (schedule_approval IN ('none', 'operators', 'all'));`
  },
  {
    version: 6,
    name: 'alarms',
    sqlite: `
CREATE TABLE alarms (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  detail TEXT,
  raised_at TEXT NOT NULL,
  cleared_at TEXT,
  acked_at TEXT,
  acked_by TEXT REFERENCES users(id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alarms_one_active ON alarms(device_id, kind) WHERE cleared_at IS NULL;
CREATE INDEX alarms_raised_at ON alarms(raised_at);
`,
    postgres: `
CREATE TABLE alarms (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  detail TEXT,
  raised_at TEXT NOT NULL,
  cleared_at TEXT,
  acked_at TEXT,
  acked_by TEXT REFERENCES users(id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alarms_one_active ON alarms(device_id, kind) WHERE cleared_at IS NULL;
CREATE INDEX alarms_raised_at ON alarms(raised_at);
`
  },
  {
    version: 7,
    name: 'telemetry history',
    sqlite: `
CREATE TABLE telemetry (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX telemetry_device_at ON telemetry(device_id, at);
CREATE INDEX telemetry_at ON telemetry(at);
CREATE TABLE telemetry_hourly (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  hour TEXT NOT NULL,
  samples INTEGER NOT NULL,
  cpu_load_sum REAL NOT NULL DEFAULT 0,
  cpu_load_n INTEGER NOT NULL DEFAULT 0,
  cpu_temp_max REAL,
  amp_temp_max REAL,
  mem_used_max INTEGER,
  disk_free_min INTEGER,
  signal_sum REAL NOT NULL DEFAULT 0,
  signal_n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (device_id, hour)
);
CREATE INDEX telemetry_hourly_hour ON telemetry_hourly(hour);
`,
    postgres: `
CREATE TABLE telemetry (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX telemetry_device_at ON telemetry(device_id, at);
CREATE INDEX telemetry_at ON telemetry(at);
CREATE TABLE telemetry_hourly (
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  hour TEXT NOT NULL,
  samples BIGINT NOT NULL,
  cpu_load_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
  cpu_load_n BIGINT NOT NULL DEFAULT 0,
  cpu_temp_max DOUBLE PRECISION,
  amp_temp_max DOUBLE PRECISION,
  mem_used_max BIGINT,
  disk_free_min BIGINT,
  signal_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
  signal_n BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (device_id, hour)
);
CREATE INDEX telemetry_hourly_hour ON telemetry_hourly(hour);
`
  },
  {
    version: 8,
    name: 'device list index',
    sqlite: `CREATE INDEX devices_area_name ON devices(area_id, name);
CREATE INDEX devices_name ON devices(name, id);`,
    postgres: `CREATE INDEX devices_area_name ON devices(area_id, name);
CREATE INDEX devices_name ON devices(name, id);`
  },
  {
    version: 9,
    name: 'alerts',
    sqlite: `ALTER TABLE areas ADD COLUMN geocodes_json TEXT;
ALTER TABLE devices ADD COLUMN lat REAL;
ALTER TABLE devices ADD COLUMN lon REAL;
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  text TEXT,
  content_id TEXT NOT NULL,
  priority TEXT NOT NULL,
  targets_json TEXT NOT NULL,
  repeat INTEGER NOT NULL,
  gap_ms INTEGER NOT NULL,
  volume INTEGER,
  start_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  state TEXT NOT NULL,
  replaces TEXT,
  replaced_by TEXT,
  cap_json TEXT,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX alerts_created_at ON alerts(created_at);
CREATE INDEX alerts_state ON alerts(state);
CREATE TABLE alert_deliveries (
  alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  reason TEXT,
  played INTEGER NOT NULL DEFAULT 0,
  started_at TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (alert_id, device_id)
);
CREATE INDEX alert_deliveries_device ON alert_deliveries(device_id, state);`,
    postgres: `ALTER TABLE areas ADD COLUMN geocodes_json TEXT;
ALTER TABLE devices ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE devices ADD COLUMN lon DOUBLE PRECISION;
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  text TEXT,
  content_id TEXT NOT NULL,
  priority TEXT NOT NULL,
  targets_json TEXT NOT NULL,
  repeat BIGINT NOT NULL,
  gap_ms BIGINT NOT NULL,
  volume BIGINT,
  start_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  state TEXT NOT NULL,
  replaces TEXT,
  replaced_by TEXT,
  cap_json TEXT,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX alerts_created_at ON alerts(created_at);
CREATE INDEX alerts_state ON alerts(state);
CREATE TABLE alert_deliveries (
  alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  reason TEXT,
  played BIGINT NOT NULL DEFAULT 0,
  started_at TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (alert_id, device_id)
);
CREATE INDEX alert_deliveries_device ON alert_deliveries(device_id, state);`
  },
  {
    version: 10,
    name: 'audit log',
    sqlite: `CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  user_id TEXT,
  username TEXT,
  area_id TEXT,
  source TEXT,
  action TEXT NOT NULL,
  target TEXT,
  status INTEGER,
  detail_json TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_user ON audit_log(user_id, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
    postgres: `CREATE TABLE audit_log (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at TEXT NOT NULL,
  user_id TEXT,
  username TEXT,
  area_id TEXT,
  source TEXT,
  action TEXT NOT NULL,
  target TEXT,
  status BIGINT,
  detail_json TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_user ON audit_log(user_id, at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;`
  },
  {
    version: 11,
    name: 'login lockout',
    sqlite: `ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;`,
    postgres: `ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TEXT;`
  },
  {
    version: 12,
    name: 'signed downlink',
    sqlite: `CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  private_key_pem TEXT,
  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  created_at TEXT NOT NULL,
  activated_at TEXT,
  retired_at TEXT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(state) WHERE state = 'active';
CREATE TABLE downlink_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), reserved_to INTEGER NOT NULL);`,
    postgres: `CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  public_key TEXT NOT NULL,
  private_key_pem TEXT,
  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  created_at TEXT NOT NULL,
  activated_at TEXT,
  retired_at TEXT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(state) WHERE state = 'active';
CREATE TABLE downlink_sequence (id BIGINT PRIMARY KEY CHECK (id = 1), reserved_to BIGINT NOT NULL);`
  },
  {
    version: 13,
    name: 'stream sources',
    sqlite: `CREATE TABLE stream_sources (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  created_by TEXT,
  created_at TEXT NOT NULL
);`,
    postgres: `CREATE TABLE stream_sources (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id),
  created_by TEXT,
  created_at TEXT NOT NULL
);`
  },
  {
    version: 14,
    name: 'report integrity',
    // Issue 14: a report must name a play its device was given, may not outlast it, and may not
    // rewrite a play's final state. issued_plays holds what each device was given (filled from
    // the states devices hold now); refused_reports keeps what was turned away, whole, for the
    // record. Reports that rewrote a play already reported move there: the first one stays.
    sqlite: `CREATE TABLE issued_plays (
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  content_id TEXT NOT NULL,
  schedule_id TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  start_at TEXT NOT NULL,
  PRIMARY KEY (device_id, play_id, content_id)
) WITHOUT ROWID;
CREATE INDEX issued_plays_start ON issued_plays(start_at);
INSERT OR IGNORE INTO issued_plays (device_id, play_id, content_id, schedule_id, duration_ms, start_at)
  SELECT d.device_id, json_extract(p.value, '$.playId'), json_extract(p.value, '$.contentId'), json_extract(p.value, '$.scheduleId'),
         json_extract(p.value, '$.durationMs'), json_extract(p.value, '$.startAt')
  FROM device_desired d, json_each(d.plays_json) p;
CREATE TABLE refused_reports (
  report_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  status TEXT NOT NULL,
  played_ms INTEGER NOT NULL,
  refusal TEXT NOT NULL,
  report_json TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX refused_reports_device ON refused_reports(device_id, received_at);
INSERT INTO refused_reports (report_id, device_id, play_id, status, played_ms, refusal, report_json, received_at)
  SELECT r.report_id, r.device_id, r.play_id, r.status, r.played_ms, 'already-reported',
         json_object('reportId', r.report_id, 'playId', r.play_id, 'scheduleId', r.schedule_id, 'contentId', r.content_id, 'status', r.status,
                     'reason', r.reason, 'scheduledAt', r.scheduled_at, 'startedAt', r.started_at, 'endedAt', r.ended_at, 'playedMs', r.played_ms, 'ampError', r.amp_error),
         r.received_at
  FROM reports r
  WHERE EXISTS (SELECT 1 FROM reports o WHERE o.device_id = r.device_id AND o.play_id = r.play_id
                AND (o.received_at < r.received_at OR (o.received_at = r.received_at AND o.rowid < r.rowid)));
DELETE FROM reports WHERE report_id IN (SELECT report_id FROM refused_reports);
CREATE UNIQUE INDEX reports_device_play ON reports(device_id, play_id);`,
    postgres: `CREATE TABLE issued_plays (
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  content_id TEXT NOT NULL,
  schedule_id TEXT NOT NULL,
  duration_ms BIGINT NOT NULL,
  start_at TEXT NOT NULL,
  PRIMARY KEY (device_id, play_id, content_id)
);
CREATE INDEX issued_plays_start ON issued_plays(start_at);
INSERT INTO issued_plays (device_id, play_id, content_id, schedule_id, duration_ms, start_at)
  SELECT d.device_id, p->>'playId', p->>'contentId', p->>'scheduleId', (p->>'durationMs')::BIGINT, p->>'startAt'
  FROM device_desired d, jsonb_array_elements(d.plays_json::jsonb) p
  ON CONFLICT DO NOTHING;
CREATE TABLE refused_reports (
  report_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  play_id TEXT NOT NULL,
  status TEXT NOT NULL,
  played_ms BIGINT NOT NULL,
  refusal TEXT NOT NULL,
  report_json TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX refused_reports_device ON refused_reports(device_id, received_at);
INSERT INTO refused_reports (report_id, device_id, play_id, status, played_ms, refusal, report_json, received_at)
  SELECT r.report_id, r.device_id, r.play_id, r.status, r.played_ms, 'already-reported',
         json_build_object('reportId', r.report_id, 'playId', r.play_id, 'scheduleId', r.schedule_id, 'contentId', r.content_id, 'status', r.status,
                           'reason', r.reason, 'scheduledAt', r.scheduled_at, 'startedAt', r.started_at, 'endedAt', r.ended_at, 'playedMs', r.played_ms, 'ampError', r.amp_error)::TEXT,
         r.received_at
  FROM reports r
  WHERE EXISTS (SELECT 1 FROM reports o WHERE o.device_id = r.device_id AND o.play_id = r.play_id
                AND (o.received_at < r.received_at OR (o.received_at = r.received_at AND o.report_id < r.report_id)));
DELETE FROM reports WHERE report_id IN (SELECT report_id FROM refused_reports);
CREATE UNIQUE INDEX reports_device_play ON reports(device_id, play_id);`
  },
  {
    version: 15,
    name: 'login throttle',
    // Issue 14: wrong passwords are counted per account and source address (login-throttle.ts);
    // accounts are no longer locked as a whole, so the old per-account lock is lifted.
    sqlite: `CREATE TABLE login_throttle (
  username TEXT NOT NULL,
  source TEXT NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0,
  last_failure_at TEXT,
  blocked_until TEXT,
  succeeded_at TEXT,
  PRIMARY KEY (username, source)
) WITHOUT ROWID;
UPDATE users SET failed_logins = 0, locked_until = NULL;`,
    postgres: `CREATE TABLE login_throttle (
  username TEXT NOT NULL,
  source TEXT NOT NULL,
  failures BIGINT NOT NULL DEFAULT 0,
  last_failure_at TEXT,
  blocked_until TEXT,
  succeeded_at TEXT,
  PRIMARY KEY (username, source)
);
UPDATE users SET failed_logins = 0, locked_until = NULL;`
  },
  {
    version: 16,
    name: 'content kinds',
    // Uploads, bulletins (speech for the library) and speech made for alerts, which the library
    // leaves out; speech_key (SHA-256 of voice and text) lets the same alert text reuse its audio.
    // Existing rows: no original file name means speech; speech that alerts use and no schedule does is alert speech.
    sqlite: `ALTER TABLE content ADD COLUMN kind TEXT NOT NULL DEFAULT 'upload' CHECK (kind IN ('upload', 'tts', 'alert'));
ALTER TABLE content ADD COLUMN speech_key TEXT;
CREATE INDEX content_speech ON content(area_id, speech_key) WHERE speech_key IS NOT NULL;
UPDATE content SET kind = 'tts' WHERE original_name IS NULL;
UPDATE content SET kind = 'alert' WHERE kind = 'tts' AND id IN (SELECT content_id FROM alerts)
  AND id NOT IN (SELECT json_extract(j.value, '$.contentId') FROM schedules s, json_each(s.items_json) j WHERE json_extract(j.value, '$.contentId') IS NOT NULL);`,
    postgres: `ALTER TABLE content ADD COLUMN kind TEXT NOT NULL DEFAULT 'upload' CHECK (kind IN ('upload', 'tts', 'alert'));
ALTER TABLE content ADD COLUMN speech_key TEXT;
CREATE INDEX content_speech ON content(area_id, speech_key) WHERE speech_key IS NOT NULL;
UPDATE content SET kind = 'tts' WHERE original_name IS NULL;
UPDATE content SET kind = 'alert' WHERE kind = 'tts' AND id IN (SELECT content_id FROM alerts)
  AND id NOT IN (SELECT j->>'contentId' FROM schedules s, jsonb_array_elements(s.items_json::jsonb) j WHERE j->>'contentId' IS NOT NULL);`
  },
  {
    version: 17,
    name: 'cluster nodes',
    // Issue 17: the nodes of a cluster (heartbeat on the database's clock, a check of the shared
    // secret), which node a device is connected to, the device-authentication MAC every node can
    // check without argon2, and which node wrote each audit entry.
    sqlite: `CREATE TABLE cluster_nodes (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  seen_at_ms INTEGER NOT NULL,
  secret_check TEXT NOT NULL
) WITHOUT ROWID;
ALTER TABLE devices ADD COLUMN node_id TEXT;
ALTER TABLE devices ADD COLUMN auth_mac TEXT;
CREATE INDEX devices_node ON devices(node_id) WHERE online = 1;
ALTER TABLE audit_log ADD COLUMN node_id TEXT;`,
    postgres: `CREATE TABLE cluster_nodes (
  id TEXT PRIMARY KEY,
  started_at TEXT NOT NULL,
  seen_at_ms BIGINT NOT NULL,
  secret_check TEXT NOT NULL
);
ALTER TABLE devices ADD COLUMN node_id TEXT;
ALTER TABLE devices ADD COLUMN auth_mac TEXT;
CREATE INDEX devices_node ON devices(node_id) WHERE online = 1;
ALTER TABLE audit_log ADD COLUMN node_id TEXT;`
  },
  {
    version: 18,
    name: 'connection instants',
    // Issue 17: when the device's recorded connection began, on the database server's clock (the
    // cluster's one clock), so a node's late write of an older connection cannot take the device
    // back from the node holding its newer one.
    sqlite: `ALTER TABLE devices ADD COLUMN connected_at_ms INTEGER;`,
    postgres: `ALTER TABLE devices ADD COLUMN connected_at_ms BIGINT;`
  },
  {
    version: 19,
    name: 'live announcements',
    // Issue 18: a live announcement's record (who, where, when, how it ended, its recording), and
    // the one-time ticket its source presents to feed it, on whichever node it connects to. The
    // recording is library content of a new kind, `live`, keeping the session's id. SQLite cannot
    // change a column's CHECK: the column is renamed, a new one added, filled, and the old dropped
    // (its CHECK is its own, so it may be).
    sqlite: `ALTER TABLE content RENAME COLUMN kind TO kind_before_live;
ALTER TABLE content ADD COLUMN kind TEXT NOT NULL DEFAULT 'upload' CHECK (kind IN ('upload', 'tts', 'alert', 'live'));
UPDATE content SET kind = kind_before_live;
ALTER TABLE content DROP COLUMN kind_before_live;
CREATE TABLE live_sessions (
  id TEXT PRIMARY KEY,
  area_ids_json TEXT NOT NULL,
  priority TEXT NOT NULL CHECK (priority IN ('priority', 'emergency')),
  title TEXT,
  volume INTEGER,
  created_by TEXT,
  created_at TEXT NOT NULL,
  ticket_hash TEXT,
  ticket_expires_at TEXT,
  node_id TEXT,
  started_at TEXT,
  ended_at TEXT,
  end_reason TEXT,
  frames_json TEXT,
  content_id TEXT,
  recording_error TEXT
);
CREATE INDEX live_sessions_created ON live_sessions(created_at);`,
    postgres: `ALTER TABLE content DROP CONSTRAINT IF EXISTS content_kind_check;
ALTER TABLE content ADD CONSTRAINT content_kind_check CHECK (kind IN ('upload', 'tts', 'alert', 'live'));
CREATE TABLE live_sessions (
  id TEXT PRIMARY KEY,
  area_ids_json TEXT NOT NULL,
  priority TEXT NOT NULL CHECK (priority IN ('priority', 'emergency')),
  title TEXT,
  volume BIGINT,
  created_by TEXT,
  created_at TEXT NOT NULL,
  ticket_hash TEXT,
  ticket_expires_at TEXT,
  node_id TEXT,
  started_at TEXT,
  ended_at TEXT,
  end_reason TEXT,
  frames_json TEXT,
  content_id TEXT,
  recording_error TEXT
);
CREATE INDEX live_sessions_created ON live_sessions(created_at);`
  },
  {
    version: 20,
    name: 'agent releases and rollouts',
    // Issue 20: signed agent bundles (the file is kept in <data>/releases/<sha256>.tar.gz), rollouts
    // of one to areas or devices in waves, and each device's state in its rollout.
    sqlite: `CREATE TABLE releases (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  arch TEXT NOT NULL,
  node_abi TEXT,
  min_previous_version TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  files INTEGER NOT NULL,
  signed_by TEXT NOT NULL,
  uploaded_by TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (version, arch)
);
CREATE TABLE rollouts (
  id TEXT PRIMARY KEY,
  release_id TEXT NOT NULL REFERENCES releases(id),
  area_ids_json TEXT NOT NULL,
  device_ids_json TEXT NOT NULL,
  waves_json TEXT NOT NULL,
  failure_threshold REAL NOT NULL,
  confirm_within_ms INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'cancelled', 'done')),
  wave INTEGER NOT NULL,
  halt_reason TEXT,
  created_by TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX rollouts_created ON rollouts(created_at);
CREATE TABLE rollout_devices (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id),
  device_id TEXT NOT NULL,
  wave INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  offered_at TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_device ON rollout_devices(device_id);`,
    postgres: `CREATE TABLE releases (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  arch TEXT NOT NULL,
  node_abi TEXT,
  min_previous_version TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  files BIGINT NOT NULL,
  signed_by TEXT NOT NULL,
  uploaded_by TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (version, arch)
);
CREATE TABLE rollouts (
  id TEXT PRIMARY KEY,
  release_id TEXT NOT NULL REFERENCES releases(id),
  area_ids_json TEXT NOT NULL,
  device_ids_json TEXT NOT NULL,
  waves_json TEXT NOT NULL,
  failure_threshold DOUBLE PRECISION NOT NULL,
  confirm_within_ms BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'cancelled', 'done')),
  wave BIGINT NOT NULL,
  halt_reason TEXT,
  created_by TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  ended_at TEXT
);
CREATE INDEX rollouts_created ON rollouts(created_at);
CREATE TABLE rollout_devices (
  rollout_id TEXT NOT NULL REFERENCES rollouts(id),
  device_id TEXT NOT NULL,
  wave BIGINT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  offered_at TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_device ON rollout_devices(device_id);`
  },
  {
    version: 21,
    name: "devices' CPU",
    // Issue 20: a box says its CPU (x64, arm64) with its reported state, and a rollout offers each
    // box the bundle of the rollout's version built for it.
    sqlite: `ALTER TABLE devices ADD COLUMN agent_arch TEXT;`,
    postgres: `ALTER TABLE devices ADD COLUMN agent_arch TEXT;`,
  },
  {
    version: 22,
    name: 'service accounts',
    // Issue 21: machine-to-machine API keys. A service account is a row of `users` of kind
    // 'service' (so everything it creates names it, through the existing created_by keys, and
    // its role and area are read as a user's are), never able to log in (no password hash
    // verifies), plus its key's SHA-256 and lifetime here (decision 0028).
    sqlite: `ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
CREATE TABLE service_accounts (
  id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  description TEXT NOT NULL DEFAULT '',
  key_prefix TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL,
  rate_limit_per_minute INTEGER NOT NULL,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT,
  rotated_at TEXT,
  last_used_at TEXT,
  last_used_from TEXT
);`,
    postgres: `ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
CREATE TABLE service_accounts (
  id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL UNIQUE COLLATE nocase,
  description TEXT NOT NULL DEFAULT '',
  key_prefix TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL,
  rate_limit_per_minute BIGINT NOT NULL,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT,
  rotated_at TEXT,
  last_used_at TEXT,
  last_used_from TEXT
);`,
  },
  {
    version: 23,
    name: 'outbox',
    // Issue 21: what the server owes other systems (the province's HTTTN, integrators' webhooks),
    // kept in the database until delivered, so nothing is lost while they are down and every node
    // of a cluster adds to the same list; the leader sends it (decision 0030). `seq` keeps each
    // channel's order; `id` is the delivery id a receiver dedupes on.
    sqlite: `CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  dedupe_key TEXT,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_attempt_at TEXT,
  last_status INTEGER,
  last_error TEXT,
  created_at TEXT NOT NULL,
  retried_at TEXT,
  delivered_at TEXT
);
CREATE UNIQUE INDEX outbox_dedupe ON outbox(channel, dedupe_key);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_channel ON outbox(channel, seq);`,
    postgres: `CREATE TABLE outbox (
  seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  kind TEXT NOT NULL,
  dedupe_key TEXT,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  last_attempt_at TEXT,
  last_status BIGINT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  retried_at TEXT,
  delivered_at TEXT
);
CREATE UNIQUE INDEX outbox_dedupe ON outbox(channel, dedupe_key);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_channel ON outbox(channel, seq);`,
  },
  {
    version: 24,
    name: 'bulletins',
    // Issue 21 item 2: bulletins an upstream system (the province's HTTTN) delivers. One row per
    // caller and upstream id (the unique key makes a resent or raced delivery one bulletin); the
    // request's hash tells a resend from a changed body. Its schedule or alert is named, not
    // referenced: a schedule deleted by an approver must leave the bulletin to say "rejected".
    sqlite: `CREATE TABLE bulletins (
  id TEXT PRIMARY KEY,
  source_id TEXT NOT NULL REFERENCES users(id),
  upstream_id TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  title TEXT NOT NULL,
  priority TEXT NOT NULL CHECK (priority IN ('normal', 'priority', 'emergency')),
  valid_from TEXT NOT NULL,
  valid_until TEXT,
  area_ids_json TEXT NOT NULL,
  unmatched_codes_json TEXT NOT NULL,
  content_id TEXT,
  schedule_id TEXT,
  alert_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('receiving', 'pending-approval', 'scheduled', 'broadcasting', 'played', 'rejected', 'expired', 'failed')),
  reason TEXT,
  outcome_json TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (source_id, upstream_id)
);
CREATE INDEX bulletins_state ON bulletins(state);
CREATE INDEX bulletins_created ON bulletins(created_at);`,
    postgres: `CREATE TABLE bulletins (
  id TEXT PRIMARY KEY,
  source_id TEXT NOT NULL REFERENCES users(id),
  upstream_id TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  title TEXT NOT NULL,
  priority TEXT NOT NULL CHECK (priority IN ('normal', 'priority', 'emergency')),
  valid_from TEXT NOT NULL,
  valid_until TEXT,
  area_ids_json TEXT NOT NULL,
  unmatched_codes_json TEXT NOT NULL,
  content_id TEXT,
  schedule_id TEXT,
  alert_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('receiving', 'pending-approval', 'scheduled', 'broadcasting', 'played', 'rejected', 'expired', 'failed')),
  reason TEXT,
  outcome_json TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (source_id, upstream_id)
);
CREATE INDEX bulletins_state ON bulletins(state);
CREATE INDEX bulletins_created ON bulletins(created_at);`,
  },
  {
    version: 25,
    name: 'webhooks',
    // Issue 21 item 5: integrators' webhook subscriptions. The secret is kept readable: the server
    // signs every delivery with it (HMAC-SHA256), so a hash would not do (docs/security.md).
    // Deliveries are messages of the outbox (migration 23), on the channel `webhook:<id>`.
    sqlite: `CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events_json TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id) ON DELETE CASCADE,
  active INTEGER NOT NULL DEFAULT 1,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhooks_area ON webhooks(area_id);`,
    postgres: `CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  events_json TEXT NOT NULL,
  area_id TEXT NOT NULL REFERENCES areas(id) ON DELETE CASCADE,
  active BIGINT NOT NULL DEFAULT 1,
  created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhooks_area ON webhooks(area_id);`,
  },
];
