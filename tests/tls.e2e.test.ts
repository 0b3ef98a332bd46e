/**
 * TLS end to end with real processes: `loalang pki init` makes a CA and a server certificate,
 * `loalang server` serves HTTPS and MQTT over TLS with them (and refuses to start in clear text
 * unless told), a `loalang agent` pinned to the CA connects, downloads an alert's audio over
 * HTTPS and plays it, and an agent pinned to another CA is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch, FormData } from 'undici';
import { CLI, requireTool, startCli, type Proc } from './support.js';

const ready = requireTool('ffmpeg');
const PASSWORD = 'mat-khau-tls-thu-nghiem';

/** `loalang pki init` into `out`, as a child process: the two CAs are made at once (each is seconds of RSA key generation). */
function pkiInit(out: string): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'pki', 'init', '--host', '127.0.0.1', '--dir', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr })));
}

describe.runIf(ready)('TLS', () => {
  let dir: string;
  let server: Proc;
  const agents: Proc[] = [];
  let base = '';
  let mqttUrl = '';
  let trusted: Agent;

  const api = async <T,>(path: string, init: { method?: string; token?: string; json?: unknown; form?: FormData } = {}) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method: init.method ?? (init.json !== undefined || init.form ? 'POST' : 'GET'),
      headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      ...(init.form ? { body: init.form } : {}),
      dispatcher: trusted,
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-tls-'));
    const [init] = await Promise.all([pkiInit(join(dir, 'pki')), pkiInit(join(dir, 'other-pki'))]);
    expect(init.status, init.stderr).toBe(0);
    trusted = new Agent({ connect: { ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8') } });
    server = startCli(['server', '--data', join(dir, 'server'), '--http-port', '0', '--mqtt-port', '0', '--host', '127.0.0.1'], {
      LOALANG_ADMIN_PASSWORD: PASSWORD,
      LOALANG_LOG_LEVEL: 'warn',
      LOALANG_TLS_CERT: join(dir, 'pki', 'server.crt'),
      LOALANG_TLS_KEY: join(dir, 'pki', 'server.key'),
    });
    base = (await server.waitFor(/api:\s+(https:\/\/\S+)\/api\/v1/, 20_000))[1]!;
    mqttUrl = (await server.waitFor(/mqtt:\s+(mqtts:\/\/\S+)/, 5_000))[1]!;
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
    await trusted?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start in clear text unless told', () => {
    const r = spawnSync(process.execPath, [CLI, 'server', '--data', join(dir, 'plain'), '--http-port', '0', '--mqtt-port', '0', '--host', '127.0.0.1'], { encoding: 'utf8', env: { ...process.env, LOALANG_TLS_CERT: '', LOALANG_TLS_KEY: '' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('TLS is not configured');
    expect(r.stderr).toContain('chưa cấu hình TLS');
  });

  it('an agent pinned to the CA plays an alert whose audio it downloads over HTTPS; one pinned to another CA is refused', async () => {
    const token = (await api<{ token: string }>('/auth/login', { json: { username: 'admin', password: PASSWORD } })).body.token;
    const rootAreaId = (await api<{ id: string }[]>('/areas', { token })).body[0]!.id;
    // 13 s of noise (about 74 KB as the server's 48 kbit/s Opus): over the 64 KiB inline limit, so the agent must fetch it over HTTPS.
    const wav = join(dir, 'tone.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anoisesrc=duration=13:amplitude=0.3', '-ar', '16000', '-ac', '1', wav]);
    const form = new FormData();
    form.set('file', new Blob([readFileSync(wav)], { type: 'audio/wav' }), 'canh-bao.wav');
    const content = await api<{ id: string; sizeBytes: number }>('/content', { token, form });
    expect(content.status).toBe(201);
    expect(content.body.sizeBytes).toBeGreaterThan(64 * 1024);

    const startAgent = async (name: string, caFile: string) => {
      const device = await api<{ id: string; agentConfig: Record<string, unknown> }>('/devices', { token, json: { name, areaId: rootAreaId } });
      expect(device.body.agentConfig).toMatchObject({ mqttUrl, httpUrl: base, caFile: '/etc/loalang/ca.crt' });
      const config = join(dir, `${name}.json`);
      writeFileSync(config, JSON.stringify({ ...device.body.agentConfig, caFile, cacheDir: join(dir, name), serial: { simulate: true }, audioSink: `file:${join(dir, name, 'sink')}`, warmupMs: 200, tailMs: 200 }));
      const proc = startCli(['agent', '--config', config], { LOALANG_LOG_LEVEL: 'info' });
      agents.push(proc);
      return { id: device.body.id, proc };
    };
    const good = await startAgent('loa-tin-cay', join(dir, 'pki', 'ca.crt'));
    const rogue = await startAgent('loa-ca-khac', join(dir, 'other-pki', 'ca.crt'));
    await good.proc.waitFor(/connected to server/, 15_000);
    await rogue.proc.waitFor(/certificate|self.signed|unable to verify/i, 15_000);

    const alert = await api<{ id: string }>('/alerts', { token, json: { contentId: content.body.id, targets: { areaIds: [], deviceIds: [good.id, rogue.id] } } });
    expect(alert.status).toBe(201);
    const until = Date.now() + 40_000;
    let states: Record<string, string> = {};
    while (Date.now() < until) {
      const v = (await api<{ deliveries: { deviceId: string; state: string }[] }>(`/alerts/${alert.body.id}`, { token })).body;
      states = Object.fromEntries(v.deliveries.map((d) => [d.deviceId, d.state]));
      if (states[good.id] === 'finished') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(states).toEqual({ [good.id]: 'finished', [rogue.id]: 'offline' });
    expect(good.proc.output()).toContain('content cached');
  }, 90_000);
});
