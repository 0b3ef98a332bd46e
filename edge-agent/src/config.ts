/**
 * The agent's JSON config (API.md "Agent config"), validated at start; an error names the
 * bad key. Relative paths resolve against the config file's folder.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { keyIdOf, ServerKey, validate } from '@loalang/protocol';
import { agentError } from './errors.js';

const SerialConfig = Type.Union([
  Type.Object({ simulate: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object(
    {
      path: Type.String({ minLength: 1 }),
      baudRate: Type.Optional(Type.Integer({ minimum: 300, maximum: 4_000_000 })),
      driver: Type.Optional(Type.Union([Type.Literal('loalang'), Type.Literal('modbus-relay')])),
      /** modbus-relay only: the board's unit id and which coils switch power and zones. */
      unitId: Type.Optional(Type.Integer({ minimum: 1, maximum: 247 })),
      coils: Type.Optional(
        Type.Object(
          { power: Type.Integer({ minimum: 0, maximum: 65535 }), zones: Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { maxItems: 16 }) },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
]);

export const AgentConfigSchema = Type.Object(
  {
    deviceId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    password: Type.Optional(Type.String({ minLength: 1 })),
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    mqttUrl: Type.String({ pattern: '^(mqtt|mqtts|ws|wss)://' }),
    httpUrl: Type.String({ pattern: '^https?://' }),
    failoverMqttUrls: Type.Optional(
      Type.Array(Type.String({ pattern: '^(mqtt|mqtts|ws|wss)://' }), {
        maxItems: 16,
        description: 'other nodes of the same server cluster: with mqttUrl, the box starts on one chosen by its device id (boxes spread over the nodes) and moves to the next when it loses its connection',
      }),
    ),
    failoverHttpUrls: Type.Optional(
      Type.Array(Type.String({ pattern: '^https?://' }), {
        maxItems: 16,
        description: "other nodes' HTTP addresses: a download that fails on its server (no answer, or 5xx) is tried on these, with the same path; the audio is checked against its SHA-256 whatever the node",
      }),
    ),
    cacheDir: Type.String({ minLength: 1 }),
    serial: SerialConfig,
    audioSink: Type.String({ pattern: '^(alsa:.+|file:.+|null)$' }),
    warmupMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
    tailMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    telemetryIntervalSec: Type.Optional(Type.Integer({ minimum: 5, maximum: 86_400 })),
    keepaliveSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, description: 'MQTT keepalive: the server marks the device offline after 1.5× this without a packet' })),
    cacheMaxBytes: Type.Optional(Type.Integer({ minimum: 1_000_000 })),
    caFile: Type.Optional(Type.String({ minLength: 1, description: "PEM of the CA the server's certificate must chain to (mqtts/https); pinned: other CAs are not trusted" })),
    serverKeys: Type.Array(ServerKey, {
      minItems: 1,
      maxItems: 4,
      description: "the server's downlink signing keys (Ed25519, from the agent config the server gives); pinned: messages signed by other keys are refused",
    }),
    releaseKeys: Type.Optional(
      Type.Array(ServerKey, { maxItems: 4, description: 'the release keys (Ed25519 public halves, from loalang release keygen) agent releases must be signed by; none: the box refuses every update' }),
    ),
    installRoot: Type.Optional(Type.String({ minLength: 1, description: 'where releases live (releases/<version>, current, confirmed); set by the install script; absent: updates are refused (a box run from a checkout)' })),
    logLevel: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
  },
  { additionalProperties: false },
);

type RawConfig = Static<typeof AgentConfigSchema>;

export interface AgentConfig extends Omit<RawConfig, 'password' | 'passwordFile' | 'warmupMs' | 'tailMs' | 'volume' | 'telemetryIntervalSec' | 'keepaliveSec' | 'cacheMaxBytes'> {
  password: string;
  warmupMs: number;
  tailMs: number;
  volume: number;
  telemetryIntervalSec: number;
  keepaliveSec: number;
  cacheMaxBytes: number;
}

const OVERRIDABLE = ['deviceId', 'password', 'passwordFile', 'mqttUrl', 'httpUrl', 'cacheDir', 'audioSink', 'logLevel'] as const;

function bad(key: string, why: string): never {
  throw agentError('LOA_ERR_CONFIG', `config key "${key}": ${why}`);
}

/** Validates a config object (after environment overrides) and fills defaults. */
export function parseAgentConfig(raw: unknown, baseDir: string, env: NodeJS.ProcessEnv = {}, passwordFromFile?: string): AgentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('(root)', 'must be a JSON object');
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const key of OVERRIDABLE) {
    const v = env[`LOALANG_AGENT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`];
    if (v !== undefined) merged[key] = v;
  }
  const result = validate(AgentConfigSchema, merged);
  if (!result.ok) {
    const [path, ...rest] = result.reason.split(': ');
    bad((path ?? '').replace(/^\//, '').replace(/\//g, '.') || '(root)', rest.join(': '));
  }
  const c = result.value;
  if ((c.password === undefined) === (c.passwordFile === undefined) && passwordFromFile === undefined) {
    bad('password', 'give exactly one of "password" and "passwordFile"');
  }
  c.serverKeys.forEach((k, i) => {
    if (keyIdOf(k.publicKey) !== k.kid) bad(`serverKeys.${i}.kid`, `does not match the public key (expected ${keyIdOf(k.publicKey)}); copy both from the server's agent config`);
  });
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const { passwordFile: _pf, ...rest } = c;
  return {
    ...rest,
    password: c.password ?? passwordFromFile ?? '',
    cacheDir: abs(c.cacheDir),
    audioSink: c.audioSink.startsWith('file:') ? `file:${abs(c.audioSink.slice(5))}` : c.audioSink,
    ...(c.caFile ? { caFile: abs(c.caFile) } : {}),
    serial: 'path' in c.serial ? { ...c.serial } : c.serial,
    warmupMs: c.warmupMs ?? 1500,
    tailMs: c.tailMs ?? 2000,
    volume: c.volume ?? 80,
    telemetryIntervalSec: c.telemetryIntervalSec ?? 60,
    keepaliveSec: c.keepaliveSec ?? 30,
    cacheMaxBytes: c.cacheMaxBytes ?? 2 * 1024 ** 3,
  };
}

export async function loadAgentConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw agentError('LOA_ERR_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw agentError('LOA_ERR_CONFIG', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  const baseDir = dirname(file);
  const pwFile = (raw as { passwordFile?: unknown })?.passwordFile;
  let fromFile: string | undefined;
  if (typeof pwFile === 'string') {
    try {
      fromFile = (await readFile(isAbsolute(pwFile) ? pwFile : resolve(baseDir, pwFile), 'utf8')).trim();
    } catch (err) {
      bad('passwordFile', `cannot read: ${(err as Error).message}`);
    }
    if ((raw as { password?: unknown }).password !== undefined) bad('password', 'give exactly one of "password" and "passwordFile"');
  }
  return parseAgentConfig(raw, baseDir, env, fromFile);
}
