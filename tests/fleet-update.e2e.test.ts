/**
 * Fleet updates, shown (issue 20): a real server (HTTP, Aedes over TCP, the database of the run)
 * and 20 real agent processes, each installed as a release (an unpacked, signed bundle) and run
 * by a supervisor doing what systemd does with deploy/loalang-agent.service (the guard before
 * each start, restart on exit). A programme plays on all of them every 3 minutes throughout.
 *  - Release B goes out to all 20 in three waves through the API; every box confirms; every pass
 *    of the programme during the rollout is played and reported, none skipped.
 *  - Release C crashes at start: its first-wave box goes back to B by itself, the rollout halts,
 *    the other boxes never get it.
 *  - Release D runs but cannot play audio: its first-wave box is not healthy by its deadline and
 *    goes back by itself; the rollout halts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey } from '@loalang/protocol';
import { multipartBody, ServiceSupervisor, untilWithin } from '@loalang/test-kit';
import { BoxLayout } from '../edge-agent/src/update/box-layout.js';
import { unpackRelease } from '../edge-agent/src/update/unpack.js';
import { packRelease } from '../cli/src/release/pack.js';
import { registerAgent, startAlertWorld, toneContent, type AlertWorld } from './alert-support.js';
import { requireTool } from './support.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FLEET = 20;
const key = newSigningKey();
const releaseKeys = [{ kid: key.kid, publicKey: key.publicKey }];
const until = untilWithin({ timeoutMs: 300_000, intervalMs: 500 });

interface Box {
  id: string;
  layout: BoxLayout;
  supervisor: ServiceSupervisor;
  log: string[];
}

interface RolloutView {
  id: string;
  state: string;
  wave: number;
  haltReason: string | null;
  totals: Record<string, number>;
  devices: { deviceId: string; wave: number; state: string; reason: string | null }[];
}

describe.runIf(requireTool('ffmpeg'))('a fleet of 20 boxes updated in waves', () => {
  let world: AlertWorld;
  let token: string;
  const boxes: Box[] = [];
  const bundles = new Map<string, Buffer>();
  /** When the programme's first pass may be (its schedule's start). */
  let programmeFrom = 0;

  const pack = async (version: string, extra?: { path: string; content: string; executable?: boolean }[]) => {
    const out = join(world.dir, `agent-${version}.tar.gz`);
    await packRelease({ root: ROOT, version, arch: process.arch as 'x64', ...(version === '1.0.0' ? {} : { minPreviousVersion: '1.0.0' }), privateKeyPem: key.privateKeyPem, out, ...(extra ? { extra } : {}) });
    bundles.set(version, readFileSync(out));
    return out;
  };
  const upload = async (version: string): Promise<string> => {
    const body = multipartBody(`agent-${version}.tar.gz`, bundles.get(version)!);
    const res = await fetch(`http://127.0.0.1:${world.server.httpPort}/api/v1/releases`, { method: 'POST', headers: { ...body.headers, authorization: `Bearer ${token}` }, body: body.payload });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const rollout = async (releaseId: string, confirmWithinMs: number) => {
    const res = await world.api<{ id: string }>(token, 'POST', '/rollouts', { releaseId, targets: { areaIds: [world.communeId], deviceIds: [] }, waves: [5, 50, 100], failureThreshold: 0.1, confirmWithinMs });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id;
  };
  const view = async (id: string) => (await world.api<RolloutView>(token, 'GET', `/rollouts/${id}`)).body;
  const versionOf = async (id: string) => (await world.server.core.devices.get(id))?.agentVersion;

  beforeAll(async () => {
    world = await startAlertWorld({ releaseKeys });
    await world.addUser('ky-thuat', 'technician', world.provinceId);
    await world.addUser('quan-tri', 'admin', world.provinceId);
    token = await world.token('ky-thuat');
    // Release A, unpacked once as a box's install script would, copied to each box.
    const a = await pack('1.0.0');
    const template = new BoxLayout(join(world.dir, 'template'));
    const unpacked = await unpackRelease(a, template.releasesDir, { pinned: releaseKeys, arch: process.arch, nodeAbi: process.versions.modules, version: '0.0.1' });
    expect(unpacked.ok).toBe(true);
    template.setPointer('current', '1.0.0');
    template.setPointer('confirmed', '1.0.0');
    for (let i = 0; i < FLEET; i++) {
      const { id, root, raw } = await registerAgent(world, `Loa ${String(i + 1).padStart(2, '0')}`, world.communeId, {});
      mkdirSync(root, { recursive: true });
      execFileSync('cp', ['-a', template.root, join(root, 'opt')]);
      const layout = new BoxLayout(join(root, 'opt'));
      const config = join(root, 'agent.json');
      writeFileSync(config, JSON.stringify({ ...raw, releaseKeys, installRoot: layout.root, logLevel: 'info' }));
      const log: string[] = [];
      const supervisor = new ServiceSupervisor({
        pre: { command: process.execPath, args: [join(layout.root, 'confirmed/app/bin/loalang-update-guard.mjs'), '--root', layout.root] },
        main: { command: process.execPath, args: [join(layout.root, 'current/app/bin/loalang-agent.mjs'), '--config', config] },
        restartMs: 1000,
        onOutput: (line) => log.push(line),
      });
      boxes.push({ id, layout, supervisor, log });
    }
    for (const b of boxes) await b.supervisor.start();
    await until('every box online on 1.0.0', async () => (await Promise.all(boxes.map(async (b) => world.server.core.mqtt.isOnline(b.id) && (await versionOf(b.id)) === '1.0.0'))).every(Boolean));
    // The programme: a 3-second tone on every box of the commune every 3 minutes, for the whole test.
    const tone = await toneContent(world, 3);
    programmeFrom = Date.now() + 30_000;
    const res = await world.api<{ id: string }>(await world.token('quan-tri'), 'POST', '/schedules', {
      title: 'Bản tin mỗi phút',
      items: [{ contentId: tone }],
      targets: { areaIds: [world.communeId], deviceIds: [] },
      start: new Date(programmeFrom).toISOString(),
      // Every 3 minutes: 480 a day, within a speaker's 500 (decision 0021).
      recurrence: { type: 'cron', cron: '*/3 * * * *' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await pack('1.1.0');
    // C: the start script fails at once. D: the agent runs, but its ffmpeg is not there.
    await pack('1.2.0', [{ path: 'bin/loalang-agent.mjs', content: "console.error('release 1.2.0: cannot start');\nprocess.exit(3);\n", executable: true }]);
    await pack('1.2.1', [{ path: 'bin/loalang-agent.mjs', content: "#!/usr/bin/env node\nprocess.env.LOALANG_FFMPEG = '/nonexistent/ffmpeg';\nconst { runAgentCommand } = await import('@loalang/edge-agent');\nprocess.exitCode = await runAgentCommand(process.argv.slice(2));\n", executable: true }]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(boxes.map((b) => b.supervisor.stop()));
    await world?.close();
  });

  it('B goes out in three waves; every box confirms; every pass of the programme plays meanwhile', async () => {
    // The programme is under way on every box (its first pass reported) before the rollout starts.
    await until('the first pass on every box', async () => {
      const reported = new Set((await world.server.core.reports.query({ limit: 10_000 })).map((r) => r.deviceId));
      return boxes.every((b) => reported.has(b.id));
    });
    // Started 25 s before the next pass: the first box has it to play first, and installs after it.
    const nextPass = Math.ceil(Date.now() / 180_000) * 180_000;
    await new Promise((r) => setTimeout(r, Math.max(0, nextPass - 25_000 - Date.now())));
    const started = Date.now();
    const id = await rollout(await upload('1.1.0'), 120_000);
    const waveOf = new Map((await view(id)).devices.map((d) => [d.deviceId, d.wave]));
    expect([0, 1, 2].map((w) => [...waveOf.values()].filter((x) => x === w).length)).toEqual([1, 9, 10]);
    await until('rollout done', async () => (await view(id)).state === 'done');
    const done = await view(id);
    expect(done.totals).toEqual({ confirmed: FLEET });
    for (const b of boxes) {
      expect(b.layout.pointer('current')).toBe('1.1.0');
      expect(b.layout.pointer('confirmed')).toBe('1.1.0');
      expect(await versionOf(b.id)).toBe('1.1.0');
    }
    const minutes = (Date.now() - started) / 60_000;
    // Every pass due up to the rollout's end was played on every box: completed, once each.
    const endedAt = Date.now();
    const due = Array.from({ length: 100 }, (_, k) => Math.ceil(programmeFrom / 180_000) * 180_000 + k * 180_000).filter((t) => t <= endedAt).length;
    await new Promise((r) => setTimeout(r, 20_000));
    const reports = await world.server.core.reports.query({ limit: 10_000 });
    const byDevice = new Map<string, string[]>();
    for (const r of reports) byDevice.set(r.deviceId, [...(byDevice.get(r.deviceId) ?? []), `${r.status}${r.reason ? ` (${r.reason})` : ''}`]);
    const passes = Math.min(...boxes.map((b) => byDevice.get(b.id)?.length ?? 0));
    console.log(`fleet update: 20 boxes from 1.0.0 to 1.1.0 in ${minutes.toFixed(1)} min, waves of 1, 9 and 10; ${passes}–${Math.max(...boxes.map((b) => byDevice.get(b.id)?.length ?? 0))} passes reported per box (${due} due before it ended)`);
    expect(due).toBeGreaterThanOrEqual(2);
    expect(passes).toBeGreaterThanOrEqual(due);
    for (const b of boxes) expect(byDevice.get(b.id)?.every((s) => s === 'completed'), `${b.id}: ${byDevice.get(b.id)?.join(', ')}`).toBe(true);
  }, 900_000);

  it('C crashes at start: its box goes back to B by itself, the rollout halts, the others never get it', async () => {
    const id = await rollout(await upload('1.2.0'), 120_000);
    await until('halted', async () => (await view(id)).state === 'halted');
    const v = await view(id);
    const first = v.devices.find((d) => d.wave === 0)!;
    expect(first).toMatchObject({ state: 'rolled-back', reason: expect.stringContaining('restarted before confirming') });
    expect(v.devices.filter((d) => d.wave > 0).every((d) => d.state === 'withdrawn')).toBe(true);
    expect(v.haltReason).toBe('wave 1: 1 of 1 devices failed (threshold 10 %)');
    const box = boxes.find((b) => b.id === first.deviceId)!;
    expect(box.layout.pointer('current')).toBe('1.1.0');
    await until('back online on 1.1.0', async () => world.server.core.mqtt.isOnline(box.id) && (await versionOf(box.id)) === '1.1.0');
    for (const b of boxes.filter((x) => x !== box)) expect(b.layout.pointer('current')).toBe('1.1.0');
  }, 300_000);

  it('D cannot play audio: its box is not healthy in time and goes back by itself; the rollout halts', async () => {
    const id = await rollout(await upload('1.2.1'), 30_000);
    await until('halted', async () => (await view(id)).state === 'halted');
    const first = (await view(id)).devices.find((d) => d.wave === 0)!;
    expect(first).toMatchObject({ state: 'rolled-back', reason: expect.stringMatching(/not healthy in time: audio path/) });
    const box = boxes.find((b) => b.id === first.deviceId)!;
    expect(box.layout.pointer('current')).toBe('1.1.0');
    expect(box.layout.pointer('confirmed')).toBe('1.1.0');
    // Audited: the halts, by the server itself.
    const halts = await world.server.core.audit.query({ action: 'rollout-halted', limit: 10 });
    expect(halts.map((h) => h.target)).toContain(id);
  }, 300_000);
});
