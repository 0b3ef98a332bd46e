/**
 * Faults while a box installs an update (issue 20), with real processes end to end: a real
 * server (HTTP, Aedes over TCP, SQLite) and boxes set up by deploy/install-agent.sh, each run by
 * a supervisor doing what systemd does with the unit the script wrote (the guard before each
 * start, restart on exit).
 *  - Four boxes are killed (SIGKILL, by the agent itself at the exact step: update/failpoint.ts)
 *    after the download, after the unpack, after the switch, and once healthy but before
 *    confirming. Each comes back on a working version by itself: the first three finish the
 *    update (the offer comes again when they reconnect), the last goes back to the release it had
 *    (a second start before confirming) and says so.
 *  - A box is offered three bundles it must refuse: signed by a key the server takes but the box
 *    does not pin, a file changed after signing, and one whose minimum previous version is above
 *    the box's. Each is refused with its reason, in the device's state and the audit log; the box
 *    keeps running what it ran. A bundle for another CPU is not even offered: the box said its
 *    CPU, and the server refuses the rollout, naming the bundle it lacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey } from '@loalang/protocol';
import { multipartBody, ServiceSupervisor, untilWithin } from '@loalang/test-kit';
import { BoxLayout } from '../edge-agent/src/update/box-layout.js';
import type { InstallStep } from '../edge-agent/src/update/failpoint.js';
import { packRelease } from '../cli/src/release/pack.js';
import { registerAgent, startAlertWorld, type AlertWorld } from './alert-support.js';
import { bundleVariant, installedUnit, installInto } from './install-support.js';
import { requireTool } from './support.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arch = process.arch as 'x64' | 'arm64';
/** The key the boxes pin, and one the server also takes (a new key not yet on the boxes). */
const pinned = newSigningKey();
const newer = newSigningKey();
const until = untilWithin({ timeoutMs: 120_000, intervalMs: 300 });
const STEPS: readonly InstallStep[] = ['downloaded', 'unpacked', 'switched', 'before-confirm'];

interface Box {
  id: string;
  name: string;
  layout: BoxLayout;
  supervisor: ServiceSupervisor;
  marker: string | null;
  log: string[];
}

interface RolloutView {
  id: string;
  state: string;
  devices: { deviceId: string; state: string; reason: string | null }[];
}

describe.runIf(requireTool('ffmpeg') && (arch === 'x64' || arch === 'arm64'))('faults while installing an update', () => {
  let world: AlertWorld;
  let token: string;
  const boxes: Box[] = [];
  const bundles = new Map<string, string>();

  const upload = async (file: string): Promise<string> => {
    const body = multipartBody('agent.tar.gz', readFileSync(file));
    const res = await fetch(`http://127.0.0.1:${world.server.httpPort}/api/v1/releases`, { method: 'POST', headers: { ...body.headers, authorization: `Bearer ${token}` }, body: body.payload });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const rollout = async (releaseId: string, deviceIds: string[]) => {
    const res = await world.api<{ id: string }>(token, 'POST', '/rollouts', { releaseId, targets: { areaIds: [], deviceIds }, waves: [100], failureThreshold: 0.5, confirmWithinMs: 60_000 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id;
  };
  const view = async (id: string) => (await world.api<RolloutView>(token, 'GET', `/rollouts/${id}`)).body;
  const versionOf = async (id: string) => (await world.server.core.devices.get(id))?.agentVersion;
  const tail = (b: Box) => `${b.name}:\n${b.log.slice(-30).join('\n')}`;

  beforeAll(async () => {
    world = await startAlertWorld({ releaseKeys: [pinned, newer].map(({ kid, publicKey }) => ({ kid, publicKey })) });
    await world.addUser('ky-thuat', 'technician', world.provinceId);
    token = await world.token('ky-thuat');
    const pack = async (version: string, privateKeyPem: string, minPreviousVersion = '1.0.0') => {
      const out = join(world.dir, `agent-${version}.tar.gz`);
      await packRelease({ root: ROOT, version, arch, minPreviousVersion, privateKeyPem, out });
      return out;
    };
    const a = await pack('1.0.0', pinned.privateKeyPem, '0.1.0');
    bundles.set('B', await pack('1.1.0', pinned.privateKeyPem));
    bundles.set('bad-signature', await pack('1.2.0', newer.privateKeyPem));
    bundles.set('changed-file', await bundleVariant(bundles.get('B')!, world.dir, 'changed', { signerPem: pinned.privateKeyPem, manifest: (m) => void (m.version = '1.2.1'), files: (app) => writeFileSync(join(app, 'bin/loalang-update-guard.mjs'), 'process.exit(0)\n') }));
    bundles.set('wrong-arch', await bundleVariant(bundles.get('B')!, world.dir, 'arch', { signerPem: pinned.privateKeyPem, manifest: (m) => void ((m.version = '1.2.2'), (m.arch = arch === 'x64' ? 'arm64' : 'x64')) }));
    bundles.set('too-old', await bundleVariant(bundles.get('B')!, world.dir, 'too-old', { signerPem: pinned.privateKeyPem, manifest: (m) => void ((m.version = '1.3.0'), (m.minPreviousVersion = '1.1.0')) }));
    writeFileSync(join(world.dir, 'release.key.pub.json'), JSON.stringify({ kid: pinned.kid, publicKey: pinned.publicKey }));
    for (const step of [...STEPS, null]) {
      const name = step ? `loa-${step}` : 'loa-refusals';
      const { id, root, raw } = await registerAgent(world, name, world.communeId, {});
      mkdirSync(root, { recursive: true });
      const config = join(root, 'from-console.json');
      writeFileSync(config, JSON.stringify({ ...raw, logLevel: 'info' }));
      const prefix = join(root, 'box');
      const installed = installInto(prefix, '--bundle', a, '--config', config, '--release-key', join(world.dir, 'release.key.pub.json'));
      expect(installed.status, installed.stderr).toBe(0);
      const marker = step ? join(root, `killed-at-${step}`) : null;
      const log: string[] = [];
      const supervisor = new ServiceSupervisor({
        ...installedUnit(prefix),
        ...(marker ? { env: { ...process.env, LOALANG_TEST_KILL_AT: `${step}:${marker}` } } : {}),
        restartMs: 1000,
        onOutput: (line) => log.push(line),
      });
      boxes.push({ id, name, layout: new BoxLayout(join(prefix, 'opt/loalang')), supervisor, marker, log });
    }
    for (const b of boxes) await b.supervisor.start();
    try {
      await until('every box online on 1.0.0', async () => (await Promise.all(boxes.map(async (b) => world.server.core.mqtt.isOnline(b.id) && (await versionOf(b.id)) === '1.0.0'))).every(Boolean));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${boxes.map(tail).join('\n')}`);
    }
  }, 300_000);

  afterAll(async () => {
    await Promise.all(boxes.map((b) => b.supervisor.stop()));
    await world?.close();
  });

  it('a box killed after the download, after the unpack, after the switch or before confirming comes back on a working version', async () => {
    // Each box has said its CPU (a rollout offers it the bundle built for it).
    for (const b of boxes) expect((await world.server.core.devices.get(b.id))?.agentArch).toBe(process.arch);
    const killed = boxes.filter((b) => b.marker);
    const id = await rollout(await upload(bundles.get('B')!), killed.map((b) => b.id));
    const settled = ['confirmed', 'rolled-back', 'failed', 'refused'];
    try {
      await until('every killed box settled', async () => (await view(id)).devices.every((d) => settled.includes(d.state)));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${JSON.stringify((await view(id)).devices)}\n${killed.map(tail).join('\n')}`);
    }
    const v = await view(id);
    const expected: Record<InstallStep, { state: string; version: string }> = {
      downloaded: { state: 'confirmed', version: '1.1.0' },
      unpacked: { state: 'confirmed', version: '1.1.0' },
      switched: { state: 'confirmed', version: '1.1.0' },
      'before-confirm': { state: 'rolled-back', version: '1.0.0' },
    };
    for (const [i, step] of STEPS.entries()) {
      const b = killed[i]!;
      // It was killed there: the failpoint fired (once), and the service was started again.
      expect(existsSync(b.marker!), `${b.name} never reached ${step}`).toBe(true);
      expect(b.supervisor.starts, tail(b)).toBeGreaterThanOrEqual(2);
      const device = v.devices.find((d) => d.deviceId === b.id)!;
      expect(device.state, `${b.name}: ${device.reason}\n${tail(b)}`).toBe(expected[step].state);
      expect(b.layout.pointer('current')).toBe(expected[step].version);
      expect(b.layout.pointer('confirmed')).toBe(expected[step].version);
      await until(`${b.name} online on ${expected[step].version}`, async () => world.server.core.mqtt.isOnline(b.id) && (await versionOf(b.id)) === expected[step].version);
      // Nothing half-done left: no unpack in progress, no partial download.
      expect(readdirSync(b.layout.releasesDir).filter((n) => n.startsWith('.'))).toEqual([]);
      expect(existsSync(join(b.layout.root, 'downloads')) ? readdirSync(join(b.layout.root, 'downloads')) : []).toEqual([]);
    }
    console.log(`update faults: ${STEPS.map((step, i) => `killed ${step} → ${v.devices.find((d) => d.deviceId === killed[i]!.id)!.state} on ${killed[i]!.layout.pointer('current')} (${killed[i]!.supervisor.starts} starts)`).join('; ')}`);
    const back = v.devices.find((d) => d.deviceId === killed[3]!.id)!;
    expect(back.reason).toContain('restarted before confirming');
    const audited = await world.server.core.audit.query({ action: 'update-rolled-back', limit: 10 });
    expect(audited.map((a) => a.target)).toContain(killed[3]!.id);
    expect(v.state).toBe('done');
  }, 300_000);

  it('a bundle signed by a key the box does not pin, with a changed file or above its minimum is refused, the reason recorded and audited; one for another CPU is never offered', async () => {
    const box = boxes.find((b) => !b.marker)!;
    // For another CPU: the box has said its CPU, so the server refuses the rollout itself, saying which bundle is missing.
    const other = await world.api<{ error: { message: string; messageVi: string } }>(token, 'POST', '/rollouts', { releaseId: await upload(bundles.get('wrong-arch')!), targets: { areaIds: [], deviceIds: [box.id] }, waves: [100], failureThreshold: 0.5, confirmWithinMs: 60_000 });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(new RegExp(`release 1\\.2\\.2 has no bundle for ${arch}, which 1 of the devices run`));
    expect(other.body.error.messageVi).toContain(`chưa có gói cho ${arch}`);
    const cases: [string, RegExp][] = [
      ['bad-signature', /^bad-signature: signed by key .*, which this box does not pin/],
      ['changed-file', /^changed-file: bin\/loalang-update-guard\.mjs differs from the manifest/],
      ['too-old', /^too-old: /],
    ];
    for (const [refusal, reason] of cases) {
      const id = await rollout(await upload(bundles.get(refusal)!), [box.id]);
      await until(`${refusal}: refused`, async () => (await view(id)).devices[0]!.state !== 'offered' && (await view(id)).state !== 'running');
      const v = await view(id);
      expect(v.devices[0], `${refusal}\n${tail(box)}`).toMatchObject({ deviceId: box.id, state: 'refused', reason: expect.stringMatching(reason) });
      // One of one failed: past the threshold, halted.
      expect(v.state).toBe('halted');
      const audited = await world.server.core.audit.query({ action: 'update-refused', limit: 50 });
      expect(audited.find((a) => a.target === box.id && JSON.stringify(a.detail).includes(refusal)), refusal).toBeDefined();
    }
    // It runs what it ran, online, with nothing of those bundles on its disk.
    expect(box.layout.pointer('current')).toBe('1.0.0');
    expect(readdirSync(box.layout.releasesDir)).toEqual(['1.0.0']);
    expect(world.server.core.mqtt.isOnline(box.id)).toBe(true);
    expect(box.supervisor.starts).toBe(1);
  }, 300_000);
});
