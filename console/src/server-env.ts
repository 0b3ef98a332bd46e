/**
 * Server settings read from the environment (documented in the README's configuration table).
 * Every value is checked at start; a bad one stops the server with a message in both languages.
 */
import { readFileSync } from 'node:fs';
import { keyIdOf, type ServerKey } from '@loalang/protocol';
import { DEFAULT_LOUDNESS, DEFAULT_UPSTREAM_MAPPING, HttpSpeechEngine, loadMapping, isPostgresUrl, isValidNodeId, MIN_CLUSTER_SECRET_CHARS, redactUrl, type CoreOptions, type TlsMaterial } from '@loalang/broker';

export type ServerSettings = Pick<CoreOptions, 'databaseUrl' | 'nodeId' | 'cluster' | 'streamHosts' | 'desiredHorizonMs' | 'maxAudioDurationSec' | 'loudness' | 'speech' | 'alarmThresholds' | 'alarmWebhook' | 'telemetryRetention' | 'alerts' | 'capSenders' | 'capAudioHosts' | 'releaseKeys' | 'upstream' | 'outbox'>;

function bad(name: string, value: string, en: string, vi: string): Error {
  return new Error(`${name}=${JSON.stringify(value)}: ${vi} / ${en}`);
}

function number(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw bad(name, raw, `must be a number from ${min} to ${max}`, `phải là số từ ${min} đến ${max}`);
  return n;
}

/** A comma-separated list of host names, lower-cased; undefined when unset. */
function hostList(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  const list = raw.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const invalid = list.find((h) => !/^[a-z0-9.-]{1,253}$/.test(h));
  if (invalid) throw bad(name, raw, `"${invalid}" is not a host name`, `"${invalid}" không phải tên máy chủ`);
  return list;
}

export function serverSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const settings: ServerSettings = {};
  const databaseUrl = env['LOALANG_DATABASE_URL'];
  if (databaseUrl) {
    if (!isPostgresUrl(databaseUrl)) throw bad('LOALANG_DATABASE_URL', redactUrl(databaseUrl), 'must be a postgres:// URL', 'phải là địa chỉ postgres://');
    settings.databaseUrl = databaseUrl;
  }
  const nodeId = env['LOALANG_NODE_ID'];
  if (nodeId !== undefined && nodeId !== '') {
    if (!isValidNodeId(nodeId)) throw bad('LOALANG_NODE_ID', nodeId, '1 to 64 letters, digits, dots, dashes or underscores', '1 đến 64 chữ, số, dấu chấm, gạch ngang hoặc gạch dưới');
    settings.nodeId = nodeId;
  }
  const redisUrl = env['LOALANG_REDIS_URL'];
  if (redisUrl) {
    // Issue 17: a node of a cluster. Each setting is checked here, so a half-configured node never starts.
    if (!/^rediss?:\/\//.test(redisUrl)) throw bad('LOALANG_REDIS_URL', redactUrl(redisUrl), 'must be a redis:// or rediss:// URL', 'phải là địa chỉ redis:// hoặc rediss://');
    if (!databaseUrl) throw bad('LOALANG_REDIS_URL', redactUrl(redisUrl), 'the nodes of a cluster share one PostgreSQL: set LOALANG_DATABASE_URL too', 'các nút của một cụm dùng chung một PostgreSQL: hãy đặt cả LOALANG_DATABASE_URL');
    const secretFile = env['LOALANG_CLUSTER_SECRET_FILE'];
    const secret = secretFile ? readKey(secretFile, 'LOALANG_CLUSTER_SECRET_FILE') : env['LOALANG_CLUSTER_SECRET'];
    if (!secret || secret.length < MIN_CLUSTER_SECRET_CHARS) {
      throw bad('LOALANG_CLUSTER_SECRET', secret ? '***' : '', `must be set, the same on every node, at least ${MIN_CLUSTER_SECRET_CHARS} characters (e.g. openssl rand -hex 32)`, `phải được đặt, giống nhau trên mọi nút, ít nhất ${MIN_CLUSTER_SECRET_CHARS} ký tự (ví dụ openssl rand -hex 32)`);
    }
    if (!nodeId) throw bad('LOALANG_NODE_ID', '', 'each node of a cluster needs its own name', 'mỗi nút của cụm cần một tên riêng');
    settings.cluster = { redisUrl, secret, nodeId };
  }
  const streamHosts = hostList(env, 'LOALANG_STREAM_HOSTS');
  if (streamHosts) settings.streamHosts = streamHosts;
  const horizonHours = number(env, 'LOALANG_DESIRED_HORIZON_HOURS', 1, 24 * 14);
  if (horizonHours !== undefined) settings.desiredHorizonMs = horizonHours * 3600_000;
  const maxAudio = number(env, 'LOALANG_MAX_AUDIO_SECONDS', 10, 24 * 3600);
  if (maxAudio !== undefined) settings.maxAudioDurationSec = maxAudio;
  const lufs = number(env, 'LOALANG_LOUDNESS_LUFS', -36, -5);
  const peak = number(env, 'LOALANG_TRUE_PEAK_DB', -9, 0);
  if (lufs !== undefined || peak !== undefined) settings.loudness = { integratedLufs: lufs ?? DEFAULT_LOUDNESS.integratedLufs, truePeakDb: peak ?? DEFAULT_LOUDNESS.truePeakDb };
  const ttsUrl = env['LOALANG_TTS_URL'];
  if (ttsUrl) {
    const keyFile = env['LOALANG_TTS_KEY_FILE'];
    const apiKey = keyFile ? readKey(keyFile) : env['LOALANG_TTS_KEY'];
    const timeoutSec = number(env, 'LOALANG_TTS_TIMEOUT_SEC', 1, 600);
    try {
      settings.speech = new HttpSpeechEngine({ url: ttsUrl, ...(apiKey ? { apiKey } : {}), ...(timeoutSec ? { timeoutMs: timeoutSec * 1000 } : {}) });
    } catch {
      throw bad('LOALANG_TTS_URL', ttsUrl, 'must be an http(s) URL', 'phải là địa chỉ http(s)');
    }
  }
  const offlineMin = number(env, 'LOALANG_ALARM_OFFLINE_MINUTES', 1, 24 * 60);
  const clockMs = number(env, 'LOALANG_ALARM_CLOCK_OFFSET_MS', 1, 60_000);
  const failures = number(env, 'LOALANG_ALARM_PLAY_FAILURES', 1, 100);
  const thresholds = {
    ...(offlineMin !== undefined ? { offlineAfterMs: offlineMin * 60_000 } : {}),
    ...(clockMs !== undefined ? { clockOffsetMs: clockMs } : {}),
    ...(failures !== undefined ? { playFailures: failures } : {}),
  };
  if (Object.keys(thresholds).length) settings.alarmThresholds = thresholds;
  const rawDays = number(env, 'LOALANG_TELEMETRY_RAW_DAYS', 1, 365);
  const hourlyDays = number(env, 'LOALANG_TELEMETRY_HOURLY_DAYS', 1, 3650);
  if (rawDays !== undefined || hourlyDays !== undefined) {
    settings.telemetryRetention = { ...(rawDays !== undefined ? { rawMs: rawDays * 86_400_000 } : {}), ...(hourlyDays !== undefined ? { hourlyMs: hourlyDays * 86_400_000 } : {}) };
  }
  const hook = env['LOALANG_ALARM_WEBHOOK_URL'];
  if (hook) {
    if (!/^https?:\/\/\S+$/.test(hook)) throw bad('LOALANG_ALARM_WEBHOOK_URL', hook, 'must be an http(s) URL', 'phải là địa chỉ http(s)');
    const template = env['LOALANG_ALARM_WEBHOOK_TEMPLATE'];
    const contentType = env['LOALANG_ALARM_WEBHOOK_CONTENT_TYPE'];
    settings.alarmWebhook = { url: hook, ...(template ? { template } : {}), ...(contentType ? { contentType } : {}) };
  }
  const senders = env['LOALANG_CAP_SENDERS'];
  if (senders) settings.capSenders = senders.split(',').map((x) => x.trim()).filter(Boolean);
  const audioHosts = hostList(env, 'LOALANG_CAP_AUDIO_HOSTS');
  if (audioHosts) settings.capAudioHosts = audioHosts;
  const leadMs = number(env, 'LOALANG_ALERT_LEAD_MS', 200, 30_000);
  const replay = env['LOALANG_ALERT_REPLAY_ON_RECONNECT'];
  if (replay !== undefined && replay !== 'true' && replay !== 'false') throw bad('LOALANG_ALERT_REPLAY_ON_RECONNECT', replay, 'must be true or false', 'phải là true hoặc false');
  const egressMbit = number(env, 'LOALANG_ALERT_EGRESS_MBIT', 1, 100_000);
  if (leadMs !== undefined || replay !== undefined || egressMbit !== undefined) {
    settings.alerts = {
      ...(leadMs !== undefined ? { leadMs } : {}),
      ...(replay !== undefined ? { replayOnReconnect: replay === 'true' } : {}),
      ...(egressMbit !== undefined ? { egressBytesPerSec: (egressMbit * 1_000_000) / 8 } : {}),
    };
  }
  const releaseKeysFile = env['LOALANG_RELEASE_KEYS'];
  if (releaseKeysFile) settings.releaseKeys = releaseKeysFrom(releaseKeysFile);
  // The outbox's waits between attempts (decision 0030): the first, doubled up to the most.
  const retrySeconds = number(env, 'LOALANG_OUTBOX_RETRY_SECONDS', 1, 3600);
  const retryMaxSeconds = number(env, 'LOALANG_OUTBOX_RETRY_MAX_SECONDS', 1, 24 * 3600);
  if (retrySeconds !== undefined || retryMaxSeconds !== undefined) {
    settings.outbox = { ...(retrySeconds !== undefined ? { baseMs: retrySeconds * 1000 } : {}), ...(retryMaxSeconds !== undefined ? { maxMs: retryMaxSeconds * 1000 } : {}) };
  }
  const upstream = upstreamFrom(env);
  if (upstream) settings.upstream = upstream;
  return settings;
}

/**
 * The upstream reporting connector (issue 21): `LOALANG_UPSTREAM_URL` turns it on. It must be
 * authenticated or signed (a token, an HMAC secret, or both: whatever the HTTTN asks), and the
 * mapping file, when given, must be valid, so a half-configured connector never starts.
 */
function upstreamFrom(env: NodeJS.ProcessEnv): ServerSettings['upstream'] {
  const url = env['LOALANG_UPSTREAM_URL'];
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('LOALANG_UPSTREAM_URL', url, 'is not a URL', 'không phải địa chỉ URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw bad('LOALANG_UPSTREAM_URL', url, 'must be http:// or https://', 'phải là http:// hoặc https://');
  const tokenFile = env['LOALANG_UPSTREAM_TOKEN_FILE'];
  const token = tokenFile ? readKey(tokenFile, 'LOALANG_UPSTREAM_TOKEN_FILE') : env['LOALANG_UPSTREAM_TOKEN'];
  const secretFile = env['LOALANG_UPSTREAM_HMAC_SECRET_FILE'];
  const hmacSecret = secretFile ? readKey(secretFile, 'LOALANG_UPSTREAM_HMAC_SECRET_FILE') : env['LOALANG_UPSTREAM_HMAC_SECRET'];
  if (!token && !hmacSecret) {
    throw bad('LOALANG_UPSTREAM_URL', url, 'needs LOALANG_UPSTREAM_TOKEN or LOALANG_UPSTREAM_HMAC_SECRET (or both): nothing is sent unauthenticated', 'cần LOALANG_UPSTREAM_TOKEN hoặc LOALANG_UPSTREAM_HMAC_SECRET (hoặc cả hai): không gửi dữ liệu khi chưa xác thực');
  }
  if (hmacSecret !== undefined && hmacSecret.length < 16) throw bad('LOALANG_UPSTREAM_HMAC_SECRET', '***', 'must be at least 16 characters', 'phải có ít nhất 16 ký tự');
  const mappingFile = env['LOALANG_UPSTREAM_MAPPING'];
  let mapping = DEFAULT_UPSTREAM_MAPPING;
  if (mappingFile) {
    try {
      mapping = loadMapping(mappingFile);
    } catch (err) {
      throw new Error(`LOALANG_UPSTREAM_MAPPING=${JSON.stringify(mappingFile)}: ${(err as Error).message}`);
    }
  }
  const minutes = number(env, 'LOALANG_UPSTREAM_EVERY_MINUTES', 1, 24 * 60) ?? 15;
  const area = env['LOALANG_UPSTREAM_AREA'];
  return { url, mapping, everyMs: minutes * 60_000, ...(token ? { token } : {}), ...(hmacSecret ? { hmacSecret } : {}), ...(area ? { area } : {}) };
}

/**
 * `LOALANG_RELEASE_KEYS`: a JSON file holding the public half of a release key (the `.pub.json`
 * that `loalang release keygen` writes) or a list of them (while a new key takes over).
 */
function releaseKeysFrom(file: string): ServerKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw bad('LOALANG_RELEASE_KEYS', file, `cannot be read as JSON: ${(err as Error).message}`, 'không đọc được tệp JSON');
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const keys = list.map((k) => k as Partial<ServerKey>);
  const wrong = keys.find((k) => typeof k.kid !== 'string' || typeof k.publicKey !== 'string' || keyIdOf(k.publicKey) !== k.kid);
  if (wrong || keys.length === 0 || keys.length > 4) {
    throw bad('LOALANG_RELEASE_KEYS', file, 'must hold one to four {"kid", "publicKey"} from loalang release keygen (.pub.json), each kid matching its key', 'phải chứa một đến bốn {"kid", "publicKey"} từ loalang release keygen (.pub.json), mỗi kid khớp với khóa');
  }
  return keys as ServerKey[];
}

/**
 * `LOALANG_TLS_CERT` and `LOALANG_TLS_KEY` (PEM files, e.g. from `loalang pki init`): HTTPS and
 * MQTT over TLS. Both or neither.
 */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TlsMaterial | null {
  const certFile = env['LOALANG_TLS_CERT'];
  const keyFile = env['LOALANG_TLS_KEY'];
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) throw bad(certFile ? 'LOALANG_TLS_KEY' : 'LOALANG_TLS_CERT', '', 'must be set with the other one', 'phải đặt cùng biến còn lại');
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw bad(name, path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, `không đọc được (${(err as NodeJS.ErrnoException).code ?? 'lỗi'})`);
    }
  };
  const tls = { cert: read('LOALANG_TLS_CERT', certFile), key: read('LOALANG_TLS_KEY', keyFile) };
  if (!tls.cert.includes('BEGIN CERTIFICATE')) throw bad('LOALANG_TLS_CERT', certFile, 'is not a PEM certificate', 'không phải chứng chỉ PEM');
  if (!/BEGIN (RSA |EC )?PRIVATE KEY/.test(tls.key)) throw bad('LOALANG_TLS_KEY', keyFile, 'is not a PEM private key', 'không phải khóa riêng PEM');
  return tls;
}

function readKey(path: string, variable = 'LOALANG_TTS_KEY_FILE'): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw bad(variable, path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, `không đọc được (${(err as NodeJS.ErrnoException).code ?? 'lỗi'})`);
  }
}

/**
 * The addresses devices are given (issue 17): `LOALANG_PUBLIC_HTTP_URL` and
 * `LOALANG_PUBLIC_MQTT_URL`, e.g. the load balancer's name in front of a cluster. Every node of a
 * cluster must give the same content URL, or each would re-send every programme with its own.
 */
export function publicUrlsFromEnv(env: NodeJS.ProcessEnv = process.env): { http?: string; mqtt?: string } {
  const http = env['LOALANG_PUBLIC_HTTP_URL'];
  const mqtt = env['LOALANG_PUBLIC_MQTT_URL'];
  if (http && !/^https?:\/\/[^/\s]+$/.test(http.replace(/\/$/, ''))) throw bad('LOALANG_PUBLIC_HTTP_URL', http, 'must be http(s)://host[:port], without a path', 'phải có dạng http(s)://máy[:cổng], không có đường dẫn');
  if (mqtt && !/^mqtts?:\/\/[^/\s]+$/.test(mqtt)) throw bad('LOALANG_PUBLIC_MQTT_URL', mqtt, 'must be mqtt(s)://host[:port]', 'phải có dạng mqtt(s)://máy[:cổng]');
  return { ...(http ? { http: http.replace(/\/$/, '') } : {}), ...(mqtt ? { mqtt } : {}) };
}

/** The console's map background: `LOALANG_MAP_TILE_URL` (an http(s) template with {z}, {x} and {y}) and its attribution. */
export interface MapSettings {
  tileUrl: string;
  attribution: string | null;
}

export function mapFromEnv(env: NodeJS.ProcessEnv = process.env): MapSettings | null {
  const tileUrl = env['LOALANG_MAP_TILE_URL'];
  if (!tileUrl) return null;
  const ok = /^https?:\/\/[a-z0-9.-]+(:\d+)?\/\S*$/i.test(tileUrl) && ['{z}', '{x}', '{y}'].every((p) => tileUrl.includes(p));
  if (!ok) throw bad('LOALANG_MAP_TILE_URL', tileUrl, 'must be an http(s) URL template with {z}, {x} and {y}', 'phải là mẫu địa chỉ http(s) có {z}, {x} và {y}');
  return { tileUrl, attribution: env['LOALANG_MAP_ATTRIBUTION'] ?? null };
}
