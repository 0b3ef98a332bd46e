/**
 * Emergency alerts end to end, in one process: the real server over HTTP and MQTT, real agents
 * with the simulated amplifier board, real ffmpeg where the audio itself matters. The two speakers
 * whose starts are compared to the millisecond each run in a process of their own.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredReport } from '@loalang/broker';
import { requireTool } from './support.js';
import { readEvents, startAgent, startAgentProcess, startAlertWorld, TimedSink, toneContent, until, type AgentProcess, type AlertWorld, type RunningAgent } from './alert-support.js';

const ready = requireTool('ffmpeg') && requireTool('espeak-ng');

interface AlertView {
  id: string;
  state: string;
  startAt: string;
  totals: Record<string, number>;
  deliveries: { deviceId: string; state: string; reason: string | null; played: number }[];
}

describe.runIf(ready)('emergency alerts', () => {
  let world: AlertWorld;
  let staff: string;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    world = await startAlertWorld();
    await world.addUser('canh-bao', 'alert-staff', world.provinceId);
    staff = await world.token('canh-bao');
  });
  const processes: AgentProcess[] = [];
  afterEach(async () => {
    await Promise.all([...agents.splice(0).map((a) => a.agent.stop()), ...processes.splice(0).map((p) => p.stop())]);
  });
  afterAll(async () => {
    await world?.close();
  });

  const view = async (id: string) => (await world.api<AlertView>(staff, 'GET', `/alerts/${id}`)).body;
  const reportsOf = (deviceId: string): Promise<StoredReport[]> => world.server.core.reports.query({ deviceIds: new Set([deviceId]) });
  const online = (list: RunningAgent[]) => until('agents online', () => list.every((a) => world.server.core.mqtt.isOnline(a.id)));

  it('an alert typed in Vietnamese reaches 50 speakers of a commune; each plays it and reports finished, live', async () => {
    const sink = new TimedSink(1200);
    for (let i = 0; i < 50; i++) agents.push(await startAgent(world, `loa-${i}`, world.communeId, { sink }));
    await online(agents);
    const issued = await world.api<AlertView>(staff, 'POST', '/alerts', {
      text: 'Bão số 3 đang đổ bộ. Bà con không ra khơi, chằng chống nhà cửa.',
      targets: { areaIds: [world.communeId], deviceIds: [] },
      volume: 90,
    });
    expect(issued.status).toBe(201);
    const id = issued.body.id;
    const live = readEvents(`http://127.0.0.1:${world.server.httpPort}/api/v1/alerts/${id}/events`, staff);
    await until('all finished', async () => (await view(id)).totals['finished'] === 50, 30_000);
    const final = await view(id);
    expect(final.deliveries.every((d) => d.state === 'finished' && d.played === 1)).toBe(true);
    // The live stream carried every device's received, started and finished.
    type Change = { deviceId: string; state: string };
    const changes = () => live.events.filter((e) => e.event === 'deliveries').flatMap((e) => e.data as Change[]);
    await until('live events', () => changes().filter((d) => d.state === 'finished').length === 50);
    live.close();
    expect(live.events[0]?.event).toBe('snapshot');
    // The stream is opened once the POST has answered, and the speakers may confirm before that
    // (on PostgreSQL they usually do): a confirmation is then in the snapshot (and a batch may
    // repeat it: the route listens before it reads the snapshot, so nothing falls in between).
    // Every speaker's confirmation is carried, in one or the other, and no batch has one twice.
    const snapshot = live.events[0]!.data as AlertView;
    const liveReceived = changes().filter((d) => d.state === 'received').map((d) => d.deviceId);
    expect(new Set(liveReceived).size).toBe(liveReceived.length);
    const carried = new Set([...snapshot.deliveries.filter((d) => d.state === 'received').map((d) => d.deviceId), ...liveReceived]);
    expect(carried).toEqual(new Set(agents.map((a) => a.id)));
    // Every speaker started within a few milliseconds of the alert's start instant.
    const planned = Date.parse(final.startAt);
    const lags = sink.starts.map((t) => t - planned);
    expect(lags).toHaveLength(50);
    process.stdout.write(`alert start vs planned over 50 agents: min ${Math.min(...lags).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms\n`);
    expect(Math.max(...lags) - Math.min(...lags)).toBeLessThan(250);
    // The durable path: each repetition's play report is stored too.
    for (const a of agents.slice(0, 3)) await until('report stored', async () => (await reportsOf(a.id)).some((r) => r.scheduleId === id && r.status === 'completed'));
  }, 120_000);

  it('cancel silences speakers mid-play within seconds; the WAVs stop short', async () => {
    const contentId = await toneContent(world, 8);
    for (let i = 0; i < 3; i++) agents.push(await startAgent(world, `huy-${i}`, world.communeId));
    await online(agents);
    const { body } = await world.api<AlertView>(staff, 'POST', '/alerts', { contentId, targets: { areaIds: [], deviceIds: agents.map((a) => a.id) }, repeat: 2 });
    await until('all started', async () => (await view(body.id)).totals['started'] === 3);
    await new Promise((r) => setTimeout(r, 1000));
    const cancelledAt = Date.now();
    const res = await world.api<AlertView>(staff, 'POST', `/alerts/${body.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('cancelled');
    await until('all cancelled', async () => (await view(body.id)).totals['cancelled'] === 3, 5000);
    process.stdout.write(`cancel → all 3 confirmed silent in ${Date.now() - cancelledAt} ms\n`);
    for (const a of agents) {
      await until('interrupted report', async () => (await reportsOf(a.id)).some((r) => r.scheduleId === body.id && r.status === 'interrupted' && r.reason === 'cancelled'));
      const wav = join(a.sinkDir, `${body.id}-r1.wav`);
      await until('wav written', () => existsSync(wav));
      const seconds = (readFileSync(wav).length - 44) / (48_000 * 2);
      expect(seconds).toBeGreaterThan(0.5);
      expect(seconds).toBeLessThan(4);
      expect(existsSync(join(a.sinkDir, `${body.id}-r2.wav`))).toBe(false);
    }
    const again = await world.api<{ error: { code: string } }>(staff, 'POST', `/alerts/${body.id}/cancel`);
    expect(again.status).toBe(409);
  }, 60_000);

  it('an alert ends at its expiry: the repetition playing stops, the rest never start', async () => {
    const contentId = await toneContent(world, 2);
    const a = await startAgent(world, 'het-han', world.otherCommuneId);
    agents.push(a);
    await online([a]);
    const expiresAt = new Date(Date.now() + 4500).toISOString();
    const { body } = await world.api<AlertView>(staff, 'POST', '/alerts', { contentId, targets: { areaIds: [world.otherCommuneId], deviceIds: [] }, repeat: 5, gapSec: 0, expiresAt });
    await until('expired', async () => (await view(body.id)).totals['expired'] === 1, 10_000);
    const v = await view(body.id);
    expect(v.deliveries[0]!.played).toBeGreaterThanOrEqual(1);
    expect(v.deliveries[0]!.played).toBeLessThan(5);
    await until('alert expired', async () => (await view(body.id)).state === 'expired');
    expect(existsSync(join(a.sinkDir, `${body.id}-r4.wav`))).toBe(false);
  }, 30_000);

  it('preempts a playing bulletin: its report says interrupted by the alert, then the alert plays', async () => {
    const core = world.server.core;
    const bulletin = await toneContent(world, 10, 'Bản tin sáng');
    const warning = await toneContent(world, 2, 'Cảnh báo lũ');
    const a = await startAgent(world, 'ban-tin', world.communeId);
    agents.push(a);
    await online([a]);
    const admin = (await core.users.list())[0]!;
    const schedule = await core.schedules.create({ title: 'Bản tin sáng', areaId: world.communeId, priority: 'normal', start: new Date(Date.now() + 2500).toISOString(), items: [{ contentId: bulletin }], targets: { areaIds: [], deviceIds: [a.id] }, volume: null, recurrence: null, repeat: { count: 1, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id });
    await core.refreshDevices([a.id]);
    await until('bulletin playing', () => existsSync(a.sinkDir) && readdirSync(a.sinkDir).some((f) => f.endsWith('.wav.start')), 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const { body } = await world.api<AlertView>(staff, 'POST', '/alerts', { contentId: warning, targets: { areaIds: [world.communeId], deviceIds: [] } });
    await until('alert finished', async () => (await view(body.id)).deliveries.find((d) => d.deviceId === a.id)?.state === 'finished', 15_000);
    await until('bulletin report', async () => (await reportsOf(a.id)).some((r) => r.scheduleId === schedule.id));
    const cut = (await reportsOf(a.id)).find((r) => r.scheduleId === schedule.id)!;
    expect(cut.status).toBe('interrupted');
    expect(cut.reason).toBe(`preempted-by:alert:${body.id}`);
    expect(cut.playedMs).toBeGreaterThan(1000);
    expect(cut.playedMs).toBeLessThan(9000);
  }, 60_000);

  it('an offline speaker shows offline, then plays the alert when it comes back while the alert is valid', async () => {
    const contentId = await toneContent(world, 1);
    const a = await startAgent(world, 'mat-dien', world.otherCommuneId);
    agents.push(a);
    await online([a]);
    await a.agent.stop();
    await until('offline', () => !world.server.core.mqtt.isOnline(a.id));
    const { body } = await world.api<AlertView>(staff, 'POST', '/alerts', { contentId, targets: { areaIds: [], deviceIds: [a.id] } });
    expect((await view(body.id)).deliveries[0]!.state).toBe('offline');
    await new Promise((r) => setTimeout(r, 2000)); // past the alert's own start instant
    const back = Date.now();
    await a.restart();
    await until('finished after reconnect', async () => (await view(body.id)).deliveries[0]!.state === 'finished');
    const started = Number(readFileSync(join(a.sinkDir, `${body.id}-r1.wav.start`), 'utf8'));
    expect(started).toBeGreaterThan(back);
  }, 30_000);

  it('speakers whose clocks are 600 ms apart start the alert within 10 ms of each other', async () => {
    const contentId = await toneContent(world, 1);
    // Each in a process of its own, as each is a box of its own in the field.
    const ahead = await startAgentProcess(world, 'nhanh', world.otherCommuneId, 300);
    const behind = await startAgentProcess(world, 'cham', world.otherCommuneId, -300);
    processes.push(ahead, behind);
    const offset = async (id: string) => (await world.server.core.devices.get(id))?.latestTelemetry?.clockOffsetMs;
    await until('clock offsets measured', async () => Math.abs(((await offset(ahead.id)) ?? 0) - 300) < 20 && Math.abs(((await offset(behind.id)) ?? 0) + 300) < 20, 20_000);
    const { body } = await world.api<AlertView>(staff, 'POST', '/alerts', { contentId, targets: { areaIds: [world.otherCommuneId], deviceIds: [] } });
    await until('both finished', async () => (await view(body.id)).totals['finished'] === 2);
    const started = (a: AgentProcess) => Number(readFileSync(join(a.sinkDir, `${body.id}-r1.wav.start`), 'utf8'));
    const spread = Math.abs(started(ahead) - started(behind));
    process.stdout.write(`clocks +300/−300 ms (measured ${await offset(ahead.id)}/${await offset(behind.id)} ms): starts ${spread.toFixed(2)} ms apart; first ${(Math.min(started(ahead), started(behind)) - Date.parse(body.startAt)).toFixed(2)} ms after the instant\n`);
    // One run in about twenty-five (on PostgreSQL, 2026-11-28) had one speaker 12 ms late: what each agent logged, to see why when it happens again.
    if (spread > 10) for (const a of [ahead, behind]) process.stdout.write(`${a.id} started ${(started(a) - Date.parse(body.startAt)).toFixed(2)} ms after the instant; its log:\n${readFileSync(a.logFile, 'utf8').split('\n').slice(-40).join('\n')}\n`);
    expect(spread).toBeLessThanOrEqual(10);
  }, 60_000);
});
