/**
 * Rollouts (issue 20) on the store, SQLite and PostgreSQL: waves offered one after the other as
 * each proves healthy; a wave's failures past the threshold halt the rollout by itself and the
 * later waves never get the release; devices away get their offer when back; pause, resume,
 * cancel; a box silent after installing counts as failed; a device's place in its latest rollout. The publisher is a recorder; the
 * clock is manual.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, silentLogger, type UpdateDeviceState, type UpdateOffer } from '@loalang/protocol';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { RolloutRepo } from '../src/updates/rollout-repo.js';
import { RolloutService, type NewRollout } from '../src/updates/rollouts.js';
import { judgeWave, planWaves } from '../src/updates/waves.js';

const T0 = Date.parse('2026-11-29T09:00:00Z');
const ids = (n: number, prefix = 'd') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);

describe('waves', () => {
  it('splits by cumulative percentages, at least one device a wave, the same order for a rollout', () => {
    const devices = ids(20);
    const waves = planWaves(devices, [1, 10, 100], 'R1');
    expect(waves.map((w) => w.length)).toEqual([1, 1, 18]);
    expect(waves.flat().sort()).toEqual(devices);
    expect(planWaves(devices, [1, 10, 100], 'R1')).toEqual(waves);
    expect(planWaves(devices, [1, 10, 100], 'R2')[0]).not.toEqual(waves[0]);
    expect(planWaves(ids(3), [50, 60, 100], 'R').map((w) => w.length)).toEqual([2, 1]);
  });

  it('judges a wave: failures past the threshold halt at once; the next waits for every online device and one confirmation', () => {
    const d = (state: UpdateDeviceState, online = true) => ({ state, online });
    expect(judgeWave([d('confirmed'), d('downloading')], 0.5)).toEqual({ kind: 'wait', open: 1 });
    expect(judgeWave([d('confirmed'), d('downloading', false)], 0.5)).toEqual({ kind: 'next' });
    // Away because it is restarting into the release: the wave waits for it (found by the fleet test).
    expect(judgeWave([d('confirmed'), d('installed', false)], 0.5)).toEqual({ kind: 'wait', open: 1 });
    expect(judgeWave([d('offered', false), d('offered', false)], 0.5)).toMatchObject({ kind: 'wait' });
    expect(judgeWave([d('rolled-back'), d('downloading')], 0.2)).toEqual({ kind: 'halt', failed: 1, of: 2 });
    expect(judgeWave([d('refused'), ...Array.from({ length: 9 }, () => d('confirmed'))], 0.1)).toEqual({ kind: 'next' });
    expect(judgeWave([d('failed'), d('refused'), ...Array.from({ length: 8 }, () => d('confirmed'))], 0.1)).toMatchObject({ kind: 'halt' });
  });
});

type Backend = { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> };
const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-rollouts-'));
      const store = await openStore({ file: join(dir, 'test.db') });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) backends.push({ name: 'postgres', open: async () => { const store = await openStore({ url: await freshPostgres('rollouts'), file: '' }); return { store, close: () => store.close() }; } });

describe.each(backends)('rollouts on $name', (backend) => {
  let opened: Awaited<ReturnType<Backend['open']>>;
  let repo: RolloutRepo;
  let service: RolloutService;
  const clock = new ManualClock(T0);
  const offline = new Set<string>();
  let sent: { deviceId: string; message: UpdateOffer }[] = [];
  const audited: { action: string; target: string; detail: object }[] = [];
  const fleet = ids(20);
  /** The CPUs devices have said. */
  const archs = new Map<string, string>();

  const startRollout = (over: Partial<NewRollout> = {}) => service.create({ releaseId: 'REL2', areaIds: ['xa'], deviceIds: [], waves: [5, 50, 100], failureThreshold: 0.2, confirmWithinMs: 120_000, createdBy: 'u1', ...over });
  const offersOf = (rolloutId: string) => sent.filter((s) => s.message.type === 'offer' && s.message.rolloutId === rolloutId).map((s) => s.deviceId);
  const report = (rolloutId: string, deviceId: string, state: UpdateDeviceState, reason?: string) =>
    service.onStatus(deviceId, { v: 1, rolloutId, version: '1.1.0', state, running: state === 'confirmed' ? '1.1.0' : '1.0.0', at: new Date(clock.now()).toISOString(), ...(reason ? { reason } : {}) });
  const stateOf = async (rolloutId: string) => Object.fromEntries((await repo.devices(rolloutId)).map((x) => [x.deviceId, x.state]));
  /** Every device of the rollout in `wave` confirms. */
  const confirmWave = async (rolloutId: string, wave: number) => {
    for (const x of await repo.devices(rolloutId, wave)) if (!offline.has(x.deviceId)) await report(rolloutId, x.deviceId, 'confirmed');
  };

  beforeAll(async () => {
    opened = await backend.open();
    repo = new RolloutRepo(opened.store.db);
    await repo.insertRelease({ id: 'REL2', version: '1.1.0', arch: 'x64', nodeAbi: '115', minPreviousVersion: '1.0.0', sha256: 'b'.repeat(64), sizeBytes: 6_000_000, files: 3850, signedBy: 'kid', uploadedBy: 'u1', createdAt: new Date(T0).toISOString() });
    service = new RolloutService({
      repo,
      devices: {
        resolveTargetIds: async (areaIds, deviceIds) => (areaIds.includes('xa') ? fleet : deviceIds),
        archsOf: async (of) => new Map(of.filter((id) => archs.has(id)).map((id) => [id, archs.get(id)!])),
      },
      publisher: { publishToDevice: async (deviceId, _kind, message) => void sent.push({ deviceId, message: message as UpdateOffer }), isOnline: (id) => !offline.has(id) },
      releaseUrl: (id) => `https://loa.example.vn/api/v1/releases/${id}/file`,
      clock,
      logger: silentLogger,
      audit: async (action, target, detail) => void audited.push({ action, target, detail }),
    });
  }, 60_000);
  afterAll(async () => opened?.close());
  beforeEach(() => {
    sent = [];
    offline.clear();
  });

  it('a fleet of two CPUs: each box is offered the bundle built for it; a CPU with none is refused at the start, saying so', async () => {
    archs.set('cpu-arm', 'arm64');
    archs.set('cpu-x64', 'x64');
    const targets = { areaIds: [], deviceIds: ['cpu-arm', 'cpu-x64', 'cpu-unsaid'], waves: [100] };
    await expect(startRollout(targets)).rejects.toThrow(/release 1\.1\.0 has no bundle for arm64, which 1 of the devices run \(e\.g\. cpu-arm\): pack it on an arm64 machine/);
    await repo.insertRelease({ id: 'REL2ARM', version: '1.1.0', arch: 'arm64', nodeAbi: '115', minPreviousVersion: '1.0.0', sha256: 'c'.repeat(64), sizeBytes: 5_900_000, files: 3850, signedBy: 'kid', uploadedBy: 'u1', createdAt: new Date(T0).toISOString() });
    const r = await startRollout(targets);
    const offered = Object.fromEntries(sent.filter((s) => s.message.type === 'offer' && s.message.rolloutId === r.id).map((s) => [s.deviceId, s.message]));
    expect(offered['cpu-arm']).toMatchObject({ version: '1.1.0', arch: 'arm64', sha256: 'c'.repeat(64), url: 'https://loa.example.vn/api/v1/releases/REL2ARM/file' });
    expect(offered['cpu-x64']).toMatchObject({ version: '1.1.0', arch: 'x64', url: 'https://loa.example.vn/api/v1/releases/REL2/file' });
    // A box that has not said its CPU gets the rollout's own release (and refuses it, saying why, if it is not for it).
    expect(offered['cpu-unsaid']).toMatchObject({ arch: 'x64' });
    // Each may fetch the bundle it was offered, not the other.
    expect(await service.mayFetch('cpu-arm', 'REL2ARM')).toBe(true);
    expect(await service.mayFetch('cpu-arm', 'REL2')).toBe(false);
    expect(await service.mayFetch('cpu-x64', 'REL2')).toBe(true);
    expect(await service.mayFetch('cpu-x64', 'REL2ARM')).toBe(false);
  });

  it('offers wave by wave, each once the one before confirmed, and ends done', async () => {
    const r = await startRollout();
    expect(offersOf(r.id)).toHaveLength(1);
    expect(sent[0]!.message).toMatchObject({ type: 'offer', version: '1.1.0', arch: 'x64', sha256: 'b'.repeat(64), size: 6_000_000, confirmWithinMs: 120_000, url: 'https://loa.example.vn/api/v1/releases/REL2/file' });
    const first = offersOf(r.id)[0]!;
    await report(r.id, first, 'downloading');
    await report(r.id, first, 'installed');
    expect(offersOf(r.id)).toHaveLength(1);
    await report(r.id, first, 'confirmed');
    expect(offersOf(r.id)).toHaveLength(10);
    expect((await repo.requireRollout(r.id)).wave).toBe(1);
    await confirmWave(r.id, 1);
    expect(offersOf(r.id)).toHaveLength(20);
    await confirmWave(r.id, 2);
    expect(await repo.requireRollout(r.id)).toMatchObject({ state: 'done', endedAt: expect.any(String) });
    expect(Object.values(await stateOf(r.id)).every((s) => s === 'confirmed')).toBe(true);
    // A late, repeated status moves nothing.
    await report(r.id, first, 'downloading');
    expect((await stateOf(r.id))[first]).toBe('confirmed');
  });

  it('a device that rolls back in the first wave halts the rollout; the other waves never get the release', async () => {
    const r = await startRollout();
    const first = offersOf(r.id)[0]!;
    await report(r.id, first, 'installed');
    await report(r.id, first, 'rolled-back', 'restarted before confirming (crash, watchdog, reboot or power cut)');
    const after = await repo.requireRollout(r.id);
    expect(after).toMatchObject({ state: 'halted', haltReason: 'wave 1: 1 of 1 devices failed (threshold 20 %)' });
    expect(offersOf(r.id)).toEqual([first]);
    const states = await stateOf(r.id);
    expect(states[first]).toBe('rolled-back');
    expect(Object.entries(states).filter(([id]) => id !== first).every(([, s]) => s === 'withdrawn')).toBe(true);
    expect(audited).toContainEqual({ action: 'rollout-halted', target: r.id, detail: { reason: after.haltReason } });
    await expect(service.resume(r.id)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
  });

  it('a wave within the threshold goes on; past it, halts without waiting for the rest; withdraws offers not yet installed', async () => {
    const r = await startRollout({ waves: [50, 100], failureThreshold: 0.15 });
    const wave = offersOf(r.id);
    expect(wave).toHaveLength(10);
    await report(r.id, wave[0]!, 'refused', 'wrong-arch: bundle for x64, box is arm64');
    expect((await repo.requireRollout(r.id)).state).toBe('running');
    expect(audited).toContainEqual(expect.objectContaining({ action: 'update-refused', target: wave[0] }));
    await report(r.id, wave[1]!, 'downloading');
    await report(r.id, wave[2]!, 'installed');
    await report(r.id, wave[3]!, 'failed', 'download: 404');
    expect((await repo.requireRollout(r.id)).state).toBe('halted');
    const withdrawals = sent.filter((s) => s.message.type === 'withdraw').map((s) => s.deviceId).sort();
    // Offered and not installed yet: told; installed (wave[2]) goes on with its trial; never offered: not told.
    expect(withdrawals).toEqual(wave.slice(4).concat(wave[1]!).sort());
    expect((await stateOf(r.id))[wave[2]!]).toBe('installed');
  });

  it('a device away when its wave starts does not hold it back, and gets its offer when it is back', async () => {
    offline.add('d00').add('d01').add('d02');
    const r = await startRollout({ waves: [50, 100], failureThreshold: 0.5 });
    const waveOne = (await repo.devices(r.id, 0)).map((x) => x.deviceId);
    const away = waveOne.filter((id) => offline.has(id));
    expect(offersOf(r.id).sort()).toEqual(waveOne.filter((id) => !offline.has(id)).sort());
    await confirmWave(r.id, 0);
    expect((await repo.requireRollout(r.id)).wave).toBe(1);
    for (const id of away) {
      offline.delete(id);
      await service.onConnect(id);
    }
    expect(offersOf(r.id).filter((id) => away.includes(id)).sort()).toEqual(away.sort());
    await service.cancel(r.id);
  });

  it('pause holds the next wave; resume goes on; cancel withdraws; a device in a rollout cannot join another', async () => {
    const r = await startRollout({ waves: [50, 100] });
    await expect(startRollout({ areaIds: [], deviceIds: ['d05'] })).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
    await service.pause(r.id);
    await confirmWave(r.id, 0);
    expect(await repo.requireRollout(r.id)).toMatchObject({ state: 'paused', wave: 0 });
    expect(offersOf(r.id)).toHaveLength(10);
    await service.resume(r.id);
    expect(await repo.requireRollout(r.id)).toMatchObject({ state: 'running', wave: 1 });
    expect(offersOf(r.id)).toHaveLength(20);
    await service.cancel(r.id);
    expect(await repo.requireRollout(r.id)).toMatchObject({ state: 'cancelled' });
    expect(sent.filter((s) => s.message.type === 'withdraw')).toHaveLength(10);
    await expect(service.cancel(r.id)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
  });

  it('a box silent after installing, past twice its confirmation window, has failed', async () => {
    const r = await startRollout({ confirmWithinMs: 60_000 });
    const first = offersOf(r.id)[0]!;
    await report(r.id, first, 'installed');
    clock.advance(100_000);
    await service.tick();
    expect((await stateOf(r.id))[first]).toBe('installed');
    clock.advance(30_000);
    await service.tick();
    expect((await repo.devices(r.id, 0))[0]).toMatchObject({ state: 'failed', reason: 'no confirmation nor roll-back within 120 s of installing' });
    expect((await repo.requireRollout(r.id)).state).toBe('halted');
  });

  it('refuses waves that do not rise to 100, a threshold outside [0, 1), and an unknown release', async () => {
    for (const waves of [[], [10, 50], [50, 10, 100], [0, 100], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100]]) {
      await expect(startRollout({ waves })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
    }
    await expect(startRollout({ failureThreshold: 1 })).rejects.toMatchObject({ code: 'LOA_ERR_INVALID' });
    await expect(startRollout({ releaseId: 'nope' })).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
  });

  it("gives a device's place in the latest rollout that included it, ended or not, with the version it brings", async () => {
    expect(await repo.latestFor('nobody')).toBeNull();
    const before = await repo.latestFor('d08');
    expect(before).toMatchObject({ releaseId: 'REL2', version: '1.1.0' });
    clock.advance(60_000);
    const r = await startRollout({ areaIds: [], deviceIds: ['d07'], waves: [100] });
    const offeredAt = new Date(clock.now()).toISOString();
    expect(await repo.latestFor('d07')).toEqual({ rolloutId: r.id, rolloutState: 'running', releaseId: 'REL2', version: '1.1.0', wave: 0, state: 'offered', reason: null, offeredAt, updatedAt: offeredAt });
    await report(r.id, 'd07', 'refused', 'downgrade: release 1.1.0, box runs 1.2.0');
    expect(await repo.latestFor('d07')).toMatchObject({ rolloutId: r.id, rolloutState: 'halted', state: 'refused', reason: 'downgrade: release 1.1.0, box runs 1.2.0', offeredAt });
    expect(await repo.latestFor('d08')).toEqual(before);
  });
});
