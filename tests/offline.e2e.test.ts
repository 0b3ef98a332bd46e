/**
 * The link is cut (the server is stopped) before a programme plays: the agent plays it on
 * its own clock, and when the server is back its reports drain with no loss and no duplicates.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevice, api, requireTool, startCli, startServerProc, until, type Proc } from './support.js';

const haveTools = requireTool('ffmpeg');
const PASSWORD = 'offline-admin-pass';

describe.skipIf(!haveTools)('a programme plays through a server outage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-offline-'));
  let server: Proc | undefined;
  let agent: Proc | undefined;
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const startServer = async (http = 0, mqtt = 0) => {
    const s = await startServerProc(join(dir, 'server'), PASSWORD, { http, mqtt });
    return { ...s, p: s.proc, http: s.base };
  };

  it('plays three passes while the server is down; reports arrive once each afterwards', async () => {
    const first = await startServer();
    server = first.p;
    const base = first.http;
    const token = first.token;
    const device = { body: await addDevice(first, 'Loa bản xa', first.rootAreaId) };
    const cacheDir = join(dir, 'agent');
    const sink = join(dir, 'sink');
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ ...device.body.agentConfig, cacheDir, serial: { simulate: true }, audioSink: `file:${sink}`, warmupMs: 200, tailMs: 200 }));
    agent = startCli(['agent', '--config', join(dir, 'agent.json')], { LOALANG_LOG_LEVEL: 'info' });

    const wav = join(dir, 'tb.wav');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=600:duration=2', wav]);
    const form = new FormData();
    form.append('file', new Blob([readFileSync(wav)]), 'thong-bao.wav');
    const content = (await api<{ id: string }>(base, '/api/v1/content', { token, body: form })).body;
    await until('device online', 15_000, async () => (await api<{ online: boolean }>(base, `/api/v1/devices/${device.body.id}`, { token })).body.online);

    const start = new Date(Date.now() + 12_000).toISOString();
    const schedule = await api<{ id: string }>(base, '/api/v1/schedules', {
      token,
      json: { title: 'Thông báo ba lần', items: [{ contentId: content.id }], targets: { areaIds: [], deviceIds: [device.body.id] }, start, repeat: { count: 3, gapSec: 3 } },
    });
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(201);
    await until('content cached on the agent', 10_000, async () => existsSync(join(cacheDir, 'content', `${content.id}.audio`)));

    await server.stop(); // the link is gone before the first pass
    server = undefined;
    await until('three plays written while the server is down', 40_000, async () => existsSync(sink) && readdirSync(sink).filter((f) => f.endsWith('.wav')).length === 3);

    const again = await startServer(first.httpPort, first.mqttPort);
    server = again.p;
    const token2 = again.token;
    type Report = { playId: string; status: string; reportId: string };
    const reports = await until('three reports after the server returns', 60_000, async () => {
      const r = await api<Report[]>(base, '/api/v1/reports', { token: token2 });
      return r.body.length >= 3 ? r.body : null;
    });
    await new Promise((r) => setTimeout(r, 3000)); // any late resend would show up as a duplicate
    const final = (await api<Report[]>(base, '/api/v1/reports', { token: token2 })).body;
    expect(final).toHaveLength(3);
    expect(new Set(final.map((r) => r.playId)).size).toBe(3);
    expect(final.every((r) => r.status === 'completed')).toBe(true);
    expect(reports.length).toBe(3);
    // The backlog went up in one message: the server names report-batch in its time replies.
    expect(agent.output()).toMatch(/"reports":3,"messages":1\b/);
  }, 150_000);
});
