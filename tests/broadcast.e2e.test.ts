/**
 * The first broadcast end to end with real processes: `loalang server` + `loalang agent`
 * + real ffmpeg. A spoken Vietnamese file is uploaded, scheduled a few seconds ahead, and
 * the agent's file sink receives a WAV of the same duration that is not silent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, meanVolumeDb, probe, requireTool, startCli, until, type Proc } from './support.js';

const haveTools = requireTool('espeak-ng') && requireTool('ffprobe');
const ADMIN_PASSWORD = 'e2e-admin-password';

describe.skipIf(!haveTools)('first broadcast end to end (real processes)', () => {
  let dir: string;
  let server: Proc;
  let agent: Proc | undefined;
  let base: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-e2e-'));
    server = startCli(['server', '--data', join(dir, 'server'), '--http-port', '0', '--mqtt-port', '0', '--host', '127.0.0.1', '--plaintext'], { LOALANG_ADMIN_PASSWORD: ADMIN_PASSWORD, LOALANG_LOG_LEVEL: 'warn' });
    const m = await server.waitFor(/api:\s+(http:\/\/\S+)\/api\/v1/, 20_000);
    base = m[1]!;
    const login = await api<{ token: string }>(base, '/api/v1/auth/login', { json: { username: 'admin', password: ADMIN_PASSWORD } });
    expect(login.status).toBe(200);
    token = login.body.token;
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plays an uploaded Vietnamese bulletin on time and reports it', async () => {
    const areas = await api<{ id: string; parentId: string | null }[]>(base, '/api/v1/areas', { token });
    const root = areas.body.find((a) => a.parentId === null)!;
    const commune = await api<{ id: string }>(base, '/api/v1/areas', { token, json: { name: 'Xã Thử Nghiệm', parentId: root.id } });
    expect(commune.status).toBe(201);
    const device = await api<{ id: string; agentConfig: Record<string, unknown> }>(base, '/api/v1/devices', { token, json: { name: 'Loa 1', areaId: commune.body.id } });
    expect(device.status).toBe(201);

    const sink = join(dir, 'sink');
    const configPath = join(dir, 'agent.json');
    writeFileSync(configPath, JSON.stringify({ ...device.body.agentConfig, cacheDir: join(dir, 'agent-cache'), serial: { simulate: true }, audioSink: `file:${sink}`, warmupMs: 300, tailMs: 300 }));
    agent = startCli(['agent', '--config', configPath], { LOALANG_LOG_LEVEL: 'info' });

    const wav = join(dir, 'bulletin.wav');
    execFileSync('espeak-ng', ['-v', 'vi', '-w', wav, '--', 'Kính thưa bà con, đây là bản tin của xã. Chiều nay trời có mưa, bà con chú ý.']);
    const form = new FormData();
    form.append('title', 'Bản tin chiều');
    form.append('file', new Blob([readFileSync(wav)], { type: 'audio/wav' }), 'ban-tin.wav');
    const upload = await api<{ id: string; durationMs: number; sha256: string }>(base, '/api/v1/content', { token, body: form });
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    expect(upload.body.sha256).toMatch(/^[0-9a-f]{64}$/);

    await until('device online', 15_000, async () => (await api<{ online: boolean }>(base, `/api/v1/devices/${device.body.id}`, { token })).body.online);
    const start = new Date(Date.now() + 6000).toISOString();
    const schedule = await api<{ id: string; status: string }>(base, '/api/v1/schedules', {
      token,
      json: { title: 'Bản tin chiều', items: [{ contentId: upload.body.id }], targets: { areaIds: [], deviceIds: [device.body.id] }, start },
    });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    expect(schedule.body.status).toBe('approved');

    type Report = { status: string; startedAt: string; endedAt: string; scheduledAt: string; playId: string; playedMs: number };
    const reports = await until('a completed report', 40_000, async () => {
      const r = await api<Report[]>(base, '/api/v1/reports', { token });
      return r.body.length > 0 ? r.body : null;
    });
    const report = reports[0]!;
    expect(report.status).toBe('completed');
    expect(Math.abs(Date.parse(report.startedAt) - Date.parse(start))).toBeLessThan(200);
    expect(Date.parse(report.endedAt)).toBeGreaterThan(Date.parse(report.startedAt));

    const file = join(sink, `${report.playId}.wav`);
    expect(existsSync(file), `sink has ${readdirSync(sink).join(', ')}`).toBe(true);
    const info = probe(file);
    expect(info).toMatchObject({ sampleRate: 48000, channels: 1, codec: 'pcm_s16le' });
    expect(Math.abs(info.durationMs - upload.body.durationMs)).toBeLessThanOrEqual(100);
    expect(meanVolumeDb(file)).toBeGreaterThan(-45);

    const csv = await api<string>(base, '/api/v1/reports?format=csv', { token });
    expect(csv.body.split('\r\n')[1]).toContain(',completed,');
  }, 90_000);
});
