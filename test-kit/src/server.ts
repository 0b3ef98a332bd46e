/**
 * A real server core with the console app on top, for app.inject() tests: on a temp SQLite file,
 * or on a fresh PostgreSQL database in the vitest project 'postgres' (issue 16).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ServerCore, type CoreOptions, type Role, type SpeechEngine } from '@loalang/broker';
import { buildApp, type AppOptions } from '@loalang/console';
import type { Clock, ServerKey } from '@loalang/protocol';
import { serverDatabase } from './databases.js';

export interface TestServer {
  core: ServerCore;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

/**
 * `clock`: the server core's clock (the system's unless given); `releaseKeys`: LOALANG_RELEASE_KEYS;
 * `upstream`: the HTTTN connector's settings; `speech`: the TTS engine (espeak-ng unless given);
 * `core`: further options of the server core (e.g. shorter webhook delivery times).
 */
export async function buildTestServer(
  opts: Pick<AppOptions, 'maxUploadBytes' | 'https'> & { clock?: Clock; releaseKeys?: ServerKey[]; upstream?: CoreOptions['upstream']; speech?: SpeechEngine; core?: Partial<CoreOptions> } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-console-'));
  const { clock, releaseKeys, upstream, speech, core: coreOptions, ...appOptions } = opts;
  const core = await ServerCore.create({
    ...coreOptions,
    ...(await serverDatabase()),
    dataDir: dir,
    mqttHost: '127.0.0.1',
    mqttPort: 0,
    publicHttpUrl: () => 'http://127.0.0.1:1',
    ...(clock ? { clock } : {}),
    ...(releaseKeys ? { releaseKeys } : {}),
    ...(upstream ? { upstream } : {}),
    ...(speech ? { speech } : {}),
  });
  await core.start();
  const app = await buildApp({ core, urls: () => ({ http: 'http://127.0.0.1:1', mqtt: `mqtt://127.0.0.1:${core.mqttPort}` }), ...appOptions });
  return {
    core,
    app,
    dir,
    close: async () => {
      await app.close();
      await core.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const PASSWORD = 'mat-khau-thu-nghiem';

export async function login(app: FastifyInstance, username: string, password = PASSWORD): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
  if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.statusCode} ${res.body}`);
  return (res.json() as { token: string }).token;
}

export async function addUser(core: ServerCore, username: string, role: Role, areaId: string): Promise<void> {
  await core.users.create({ username, password: PASSWORD, role, areaId });
}

/** A multipart/form-data body with one file (field "file") and text fields, for app.inject(). */
export function multipartBody(filename: string, data: Buffer, fields: Record<string, string> = {}): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----loalang' + Math.random().toString(16).slice(2);
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
  parts.push(data, Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
