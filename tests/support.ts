/** Helpers for end-to-end tests that run the built `loalang` binary as real processes. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverDatabase, until as poll } from '@loalang/test-kit';

export const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Skips a suite with a line that names the missing Debian tool. */
export function requireTool(name: string): boolean {
  const ok = hasTool(name);
  if (!ok) process.stdout.write(`SKIP: ${name} is not installed (apt-get install ${name === 'ffprobe' ? 'ffmpeg' : name})\n`);
  return ok;
}

/**
 * A PATH like this one with the named programs hidden: a folder of links to everything else
 * on PATH (first one of each name wins, as in a lookup). For runs "as on a machine without
 * Debian's ffmpeg".
 */
export function pathWithout(hidden: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-path-'));
  const linked = new Set(hidden);
  for (const from of (process.env['PATH'] ?? '').split(delimiter).filter((d) => d && existsSync(d))) {
    for (const name of readdirSync(from)) {
      if (linked.has(name)) continue;
      linked.add(name);
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return dir;
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  waitFor: (pattern: RegExp, timeoutMs: number) => Promise<RegExpMatchArray>;
  stop: () => Promise<void>;
}

/** Runs the built CLI; `env` adds to this process's environment, and an `undefined` value removes a variable. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): Proc {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [CLI, ...args], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function api<T = unknown>(base: string, path: string, init: { method?: string; token?: string; json?: unknown; body?: FormData } = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? (init.json !== undefined || init.body ? 'POST' : 'GET'),
    headers,
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    ...(init.body ? { body: init.body } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* csv or empty */
  }
  return { status: res.status, body: body as T };
}

/** Polls `probe` every 250 ms until it answers, and returns the answer (the kit's `until`, timeout first). */
export function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  return poll(what, probe, { timeoutMs, intervalMs: 250 });
}

/** Duration (ms) and format of an audio file, by ffprobe. */
export function probe(path: string): { durationMs: number; sampleRate: number; channels: number; codec: string } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', path], { encoding: 'utf8' });
  const j = JSON.parse(r.stdout) as { streams: { sample_rate: string; channels: number; codec_name: string }[]; format: { duration: string } };
  const s = j.streams[0]!;
  return { durationMs: Math.round(Number(j.format.duration) * 1000), sampleRate: Number(s.sample_rate), channels: s.channels, codec: s.codec_name };
}

/** Mean volume in dBFS by ffmpeg's volumedetect: about -91 for digital silence. */
export function meanVolumeDb(path: string): number {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-nostats', '-i', path, '-af', 'volumedetect', '-f', 'null', '-'], { encoding: 'utf8' });
  const m = /mean_volume:\s*(-?[\d.]+) dB/.exec(r.stderr);
  if (!m) throw new Error(`volumedetect failed: ${r.stderr}`);
  return Number(m[1]);
}

export interface ServerProc {
  proc: Proc;
  base: string;
  httpPort: number;
  mqttPort: number;
  /** The admin's bearer token. */
  token: string;
  rootAreaId: string;
}

/** The PostgreSQL database of each data folder in the 'postgres' project: a restarted server finds its data again. */
const postgresOf = new Map<string, string>();

/**
 * `loalang server` on loopback with a known admin password, logged in as admin. In the vitest
 * project 'postgres' it runs on a fresh PostgreSQL database (the same one again for the same data folder).
 */
export async function startServerProc(dataDir: string, password: string, ports: { http?: number; mqtt?: number } = {}, env: Record<string, string> = {}): Promise<ServerProc> {
  const database: Record<string, string> = {};
  if (!env['LOALANG_DATABASE_URL']) {
    const url = postgresOf.get(dataDir) ?? (await serverDatabase()).databaseUrl;
    if (url) postgresOf.set(dataDir, (database['LOALANG_DATABASE_URL'] = url));
  }
  const proc = startCli(['server', '--data', dataDir, '--http-port', String(ports.http ?? 0), '--mqtt-port', String(ports.mqtt ?? 0), '--host', '127.0.0.1', '--plaintext'], { LOALANG_ADMIN_PASSWORD: password, LOALANG_LOG_LEVEL: 'warn', ...database, ...env });
  const base = (await proc.waitFor(/api:\s+(http:\/\/\S+)\/api\/v1/, 20_000))[1]!;
  const mqttPort = Number((await proc.waitFor(/mqtt:\s+mqtt:\/\/[^:]+:(\d+)/, 5_000))[1]);
  const token = (await api<{ token: string }>(base, '/api/v1/auth/login', { json: { username: 'admin', password } })).body.token;
  const rootAreaId = (await api<{ id: string }[]>(base, '/api/v1/areas', { token })).body[0]!.id;
  return { proc, base, httpPort: Number(new URL(base).port), mqttPort, token, rootAreaId };
}

/** Provisions a device through the API; its agent config comes back with the secret. */
export async function addDevice(s: Pick<ServerProc, 'base' | 'token'>, name: string, areaId: string): Promise<{ id: string; agentConfig: Record<string, unknown> }> {
  const res = await api<{ id: string; agentConfig: Record<string, unknown> }>(s.base, '/api/v1/devices', { token: s.token, json: { name, areaId } });
  if (res.status !== 201) throw new Error(`device add: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
