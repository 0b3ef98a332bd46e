/**
 * Every remote command, round trip, against a real agent process with a simulated board:
 * the technician posts it, the agent carries it out and the result comes back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevice, api, requireTool, startCli, startServerProc, until, type Proc } from './support.js';

const haveTools = requireTool('ffmpeg');
const PASSWORD = 'commands-admin-pass';

describe.skipIf(!haveTools)('remote commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-commands-'));
  let server: Proc | undefined;
  let agent: Proc | undefined;
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('volume, test tone through the chain, amplifier test, sync, logs and restart', async () => {
    const s = await startServerProc(join(dir, 'server'), PASSWORD);
    server = s.proc;
    const { base, token } = s;
    await api(base, '/api/v1/users', { token, json: { username: 'kythuat', password: 'mat-khau-ky-thuat', role: 'technician', areaId: s.rootAreaId } });
    const tech = (await api<{ token: string }>(base, '/api/v1/auth/login', { json: { username: 'kythuat', password: 'mat-khau-ky-thuat' } })).body.token;
    const device = { body: await addDevice(s, 'Loa trạm bơm', s.rootAreaId) };
    const sink = join(dir, 'sink');
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ ...device.body.agentConfig, cacheDir: join(dir, 'agent'), serial: { simulate: true }, audioSink: `file:${sink}`, warmupMs: 100, tailMs: 200 }));
    agent = startCli(['agent', '--config', join(dir, 'agent.json')], { LOALANG_LOG_LEVEL: 'warn' });
    await until('online', 15_000, async () => (await api<{ online: boolean }>(base, `/api/v1/devices/${device.body.id}`, { token })).body.online);

    type Cmd = { id: string; status: string; params: Record<string, unknown>; result: { ok: boolean; result?: Record<string, unknown>; error?: { code: string } } | null };
    const send = async (body: Record<string, unknown>) => {
      const posted = await api<{ id: string }>(base, `/api/v1/devices/${device.body.id}/commands`, { token: tech, json: body });
      expect(posted.status, JSON.stringify(posted.body)).toBe(202);
      return until(`${String(body['type'])} result`, 20_000, async () => {
        const c = (await api<Cmd>(base, `/api/v1/devices/${device.body.id}/commands/${posted.body.id}`, { token: tech })).body;
        return c.status !== 'sent' ? c : null;
      });
    };

    expect(await send({ type: 'volume', volume: 60 })).toMatchObject({ status: 'succeeded', result: { ok: true, result: { volume: 60 } } });
    expect((await send({ type: 'volume', volume: 160 })).result).toMatchObject({ ok: false, error: { code: 'bad-params' } });

    const tone = await send({ type: 'test-tone', seconds: 2 });
    expect(tone).toMatchObject({ status: 'succeeded', result: { ok: true, result: { board: { power: true, faults: [] } } } });
    expect(Number(tone.result!.result!['playedMs'])).toBeGreaterThan(1900);
    expect(tone.params).toEqual({ seconds: 2 }); // stored as sent: a number stays a number
    expect(readdirSync(sink).some((f) => f.startsWith('test-'))).toBe(true);

    expect(await send({ type: 'amp-test' })).toMatchObject({ status: 'succeeded', result: { ok: true } });
    expect(await send({ type: 'sync' })).toMatchObject({ status: 'succeeded' });

    const logs = await send({ type: 'logs', lines: 50 });
    const lines = logs.result!.result!['lines'] as string[];
    expect(lines.some((l) => l.includes('agent started'))).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(50);

    // Restart: the agent answers, then exits for its supervisor (systemd) to start it again.
    expect(await send({ type: 'restart' })).toMatchObject({ status: 'succeeded', result: { result: { restarting: true } } });
    await until('agent exited', 10_000, async () => agent!.child.exitCode !== null || agent!.child.signalCode !== null);
    expect(existsSync(join(dir, 'agent'))).toBe(true);
  }, 90_000);
});
