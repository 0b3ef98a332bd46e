/** `loalang demo` as a newcomer runs it: three simulated speakers play a bulletin within a minute. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, startCli, type Proc } from './support.js';

describe('loalang demo', () => {
  let dir: string | undefined;
  let demo: Proc | undefined;
  afterAll(async () => {
    await demo?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plays the bulletin on three simulated speakers and lists the plays in /api/v1/reports', async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-demo-'));
    const started = Date.now();
    demo = startCli(['demo', '--devices', '3', '--data', dir, '--http-port', '0', '--mqtt-port', '0']);
    const url = (await demo.waitFor(/console:\s+(http:\/\/\S+?)\/?\s/, 30_000))[1]!;
    const password = (await demo.waitFor(/admin login:\s+admin \/ (\S+)/, 5_000))[1]!;
    await demo.waitFor(/All 3 speakers played the bulletin/, 60_000);
    const firstPlayLatencyS = (Date.now() - started) / 1000;
    process.stdout.write(`demo: all three plays reported ${firstPlayLatencyS.toFixed(1)} s after start\n`);

    const login = await api<{ token: string }>(url, '/api/v1/auth/login', { json: { username: 'admin', password } });
    expect(login.status).toBe(200);
    const reports = await api<{ status: string; deviceId: string }[]>(url, '/api/v1/reports', { token: login.body.token });
    expect(reports.body.filter((r) => r.status === 'completed')).toHaveLength(3);
    expect(new Set(reports.body.map((r) => r.deviceId)).size).toBe(3);
    const sinkRoot = join(dir, 'demo', 'sink');
    const wavs = readdirSync(sinkRoot).flatMap((d) => readdirSync(join(sinkRoot, d)).filter((f) => f.endsWith('.wav')));
    expect(wavs).toHaveLength(3);
    expect(existsSync(join(dir, 'demo', 'loalang.db'))).toBe(true);
  }, 120_000);
});
