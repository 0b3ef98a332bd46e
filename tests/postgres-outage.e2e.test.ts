/**
 * Issue 16: PostgreSQL is stopped under a running server (a restart, a failover, a cut link).
 * The agent plays its programme on its own; the broker keeps the device connected; the API
 * answers 503 in both languages; the device's reports wait in its outbox and arrive once each
 * when the database is back, with nothing lost or duplicated. The real PostgreSQL server is
 * stopped and started (its own cluster, so other suites are not disturbed).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSkipReason, startPostgres, type PostgresCluster } from '@loalang/test-kit';
import { addDevice, api, requireTool, startCli, startServerProc, until, type Proc } from './support.js';

const skip = postgresSkipReason() ?? (requireTool('ffmpeg') ? null : 'ffmpeg is not installed');
if (skip) console.warn(`postgres-outage skipped: ${skip}`);
const PASSWORD = 'outage-admin-pass';

describe.skipIf(skip !== null)('the database goes away under a running server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-pg-outage-'));
  let cluster: PostgresCluster | undefined;
  let server: Proc | undefined;
  let agent: Proc | undefined;
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps playing and connected, answers 503, and loses or doubles no report', async () => {
    cluster = await startPostgres();
    const databaseUrl = await cluster.createDatabase('outage');
    const s = await startServerProc(join(dir, 'server'), PASSWORD, {}, { LOALANG_DATABASE_URL: databaseUrl });
    server = s.proc;
    const { base, token } = s;
    const device = await addDevice(s, 'Loa chợ', s.rootAreaId);
    const cacheDir = join(dir, 'agent');
    const sink = join(dir, 'sink');
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ ...device.agentConfig, cacheDir, serial: { simulate: true }, audioSink: `file:${sink}`, warmupMs: 200, tailMs: 200 }));
    agent = startCli(['agent', '--config', join(dir, 'agent.json')], { LOALANG_LOG_LEVEL: 'warn' });

    const wav = join(dir, 'tb.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', wav]);
    const form = new FormData();
    form.append('file', new Blob([readFileSync(wav)]), 'mat-dien.wav');
    const content = (await api<{ id: string }>(base, '/api/v1/content', { token, body: form })).body;
    await until('device online', 15_000, async () => (await api<{ online: boolean }>(base, `/api/v1/devices/${device.id}`, { token })).body.online);
    const start = new Date(Date.now() + 10_000).toISOString();
    const schedule = await api(base, '/api/v1/schedules', {
      token,
      json: { title: 'Thông báo cắt điện', items: [{ contentId: content.id }], targets: { areaIds: [], deviceIds: [device.id] }, start, repeat: { count: 3, gapSec: 3 } },
    });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    await until('content cached on the agent', 10_000, async () => existsSync(join(cacheDir, 'content', `${content.id}.audio`)));

    await cluster.stop(); // PostgreSQL goes away before the first pass

    const refused = await api<{ error: { code: string; message: string; messageVi: string } }>(base, '/api/v1/devices', { token });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('LOA_ERR_DATABASE_UNAVAILABLE');
    expect(refused.body.error.message).toMatch(/database/i);
    expect(refused.body.error.messageVi).toMatch(/cơ sở dữ liệu/);
    expect((await fetch(`${base}/healthz`)).status).toBe(503);

    await until('three plays while the database is down', 40_000, async () => existsSync(sink) && readdirSync(sink).filter((f) => f.endsWith('.wav')).length === 3);
    // The broker kept the device: it never went offline (presence comes from the connection, not the database).
    expect(server.output()).not.toMatch(/device directory failed/);

    await cluster.start();
    type Report = { playId: string; status: string; reportId: string };
    await until('the API answers again', 30_000, async () => (await api(base, '/api/v1/devices', { token })).status === 200);
    const reports = await until('three reports after the database returns', 60_000, async () => {
      const r = await api<Report[]>(base, '/api/v1/reports', { token });
      return r.status === 200 && r.body.length >= 3 ? r.body : null;
    });
    await new Promise((r) => setTimeout(r, 3000)); // a late resend would show up as a duplicate
    const final = (await api<Report[]>(base, '/api/v1/reports', { token })).body;
    expect(final).toHaveLength(3);
    expect(new Set(final.map((r) => r.playId)).size).toBe(3);
    expect(final.every((r) => r.status === 'completed')).toBe(true);
    expect(reports.length).toBe(3);
    const detail = await api<{ online: boolean }>(base, `/api/v1/devices/${device.id}`, { token });
    expect(detail.body.online).toBe(true);
  }, 180_000);
});
