/**
 * The agent as a service on its box (issue 20), under a supervisor that does what systemd does
 * with deploy/loalang-agent.service (the guard as ExecStartPre, restart on exit, Type=notify with
 * a watchdog through systemd-notify): a real agent process from an unpacked, signed release says
 * READY and feeds the watchdog; frozen, it is killed and started again; a new release that
 * crashes at start gets one start and the box is back on the previous release by itself, with
 * the reason recorded. The unit file itself passes `systemd-analyze verify`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey } from '@loalang/protocol';
import { ServiceSupervisor } from '@loalang/test-kit';
import { BoxLayout } from '../edge-agent/src/update/box-layout.js';
import { beginTrial } from '../edge-agent/src/update/trial.js';
import { unpackRelease } from '../edge-agent/src/update/unpack.js';
import { packRelease } from '../cli/src/release/pack.js';
import { requireTool } from './support.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ready = requireTool('socat') && spawnSync('systemd-notify', ['--version']).status === 0;

describe.runIf(ready)('the agent as a service', () => {
  const key = newSigningKey();
  const releaseKeys = [{ kid: key.kid, publicKey: key.publicKey }];
  let dir: string;
  let box: BoxLayout;
  let supervisor: ServiceSupervisor;
  const output: string[] = [];

  const until = async (what: string, ok: () => boolean, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out: ${what}\n${output.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const install = async (version: string, extra?: { path: string; content: string; executable?: boolean }[]) => {
    const bundle = join(dir, `agent-${version}.tar.gz`);
    await packRelease({ root: ROOT, version, arch: process.arch as 'x64', privateKeyPem: key.privateKeyPem, out: bundle, ...(extra ? { extra } : {}) });
    const r = await unpackRelease(bundle, box.releasesDir, { pinned: releaseKeys, arch: process.arch, nodeAbi: process.versions.modules, version: '0.0.1' });
    expect(r.ok).toBe(true);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-service-'));
    box = new BoxLayout(join(dir, 'opt'));
    await install('1.0.0');
    box.setPointer('current', '1.0.0');
    box.setPointer('confirmed', '1.0.0');
    mkdirSync(join(dir, 'cache'));
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        deviceId: 'loa-dich-vu',
        password: 'mat-khau-thiet-bi-dai-du',
        // No server is needed to start, be ready and feed the watchdog.
        mqttUrl: 'mqtt://127.0.0.1:9',
        httpUrl: 'http://127.0.0.1:9',
        cacheDir: join(dir, 'cache'),
        serial: { simulate: true },
        audioSink: 'null',
        serverKeys: [(({ kid, publicKey }) => ({ kid, publicKey }))(newSigningKey())],
        releaseKeys,
        installRoot: box.root,
      }),
    );
    supervisor = new ServiceSupervisor({
      pre: { command: process.execPath, args: [join(box.root, 'confirmed/app/bin/loalang-update-guard.mjs'), '--root', box.root] },
      main: { command: process.execPath, args: [join(box.root, 'current/app/bin/loalang-agent.mjs'), '--config', config] },
      restartMs: 300,
      watchdogMs: 4000,
      onOutput: (line) => output.push(line),
    });
  }, 120_000);

  afterAll(async () => {
    await supervisor?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the unit file is valid for systemd', () => {
    const verified = spawnSync('systemd-analyze', ['verify', join(ROOT, 'deploy/loalang-agent.service')], { encoding: 'utf8' });
    expect(verified.error ? 'no systemd-analyze' : verified.stderr.trim()).toMatch(/^$|no systemd-analyze/);
  });

  it('starts from its release, says READY, feeds the watchdog; frozen, it is killed and started again', async () => {
    let readies = 0;
    supervisor.on('ready', () => readies++);
    await supervisor.start();
    await until('READY', () => readies === 1);
    expect(output.some((l) => l.includes('"agent started"') && l.includes('"version":"1.0.0"'))).toBe(true);
    // Fed at half the period: alive after three periods.
    await new Promise((r) => setTimeout(r, 12_000));
    expect(supervisor.watchdogKills).toBe(0);
    expect(supervisor.starts).toBe(1);
    // Frozen (SIGSTOP): no more feeding; killed and started again.
    process.kill(supervisor.pid!, 'SIGSTOP');
    await until('the watchdog', () => supervisor.watchdogKills === 1, 15_000);
    await until('READY again', () => readies === 2, 30_000);
    expect(supervisor.starts).toBe(2);
  }, 90_000);

  it('a new release that crashes at start gets one start; the box goes back to the previous one by itself', async () => {
    await install('1.1.0', [{ path: 'bin/loalang-agent.mjs', content: "console.error('release 1.1.0: cannot start');\nprocess.exit(3);\n", executable: true }]);
    beginTrial(box, { version: '1.1.0', from: '1.0.0', deadline: Date.now() + 120_000, rolloutId: 'R-crash' });
    const startsBefore = supervisor.starts;
    let readies = 0;
    supervisor.on('ready', () => readies++);
    // The agent exits after installing; here, the supervisor's kill stands for it.
    supervisor.kill();
    await until('back on 1.0.0 and ready', () => readies === 1 && box.pointer('current') === '1.0.0', 60_000);
    expect(output.filter((l) => l.includes('release 1.1.0: cannot start'))).toHaveLength(1);
    expect(supervisor.starts - startsBefore).toBe(2);
    expect(box.readState()).toMatchObject({ trial: null, last: { version: '1.1.0', from: '1.0.0', outcome: 'rolled-back', reason: expect.stringContaining('restarted before confirming'), rolloutId: 'R-crash', reported: false } });
    expect(box.pointer('confirmed')).toBe('1.0.0');
  }, 120_000);
});
