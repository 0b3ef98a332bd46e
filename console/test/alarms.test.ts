/**
 * Alarms end to end, in one process but over real TCP: a real agent with a simulated board
 * connects to the real broker; the board overheats, the alarm is raised with the right device
 * and time, the webhook (a local HTTP server) is called, a technician acknowledges it, the
 * board cools down, the alarm clears and the webhook says so. The agent then vanishes and
 * the offline alarm follows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ServerCore } from '@loalang/broker';
import { systemClock } from '@loalang/protocol';
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { serverDatabase, until } from '@loalang/test-kit';
import { buildApp } from '../src/app.js';
import { addUser, login } from './helpers.js';

let dir: string;
let core: ServerCore;
let app: FastifyInstance;
let hook: Server;
const calls: Record<string, string>[] = [];
let token = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-alarms-'));
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      calls.push(JSON.parse(body) as Record<string, string>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  core = await ServerCore.create({
    ...(await serverDatabase()),
    dataDir: dir,
    mqttHost: '127.0.0.1',
    mqttPort: 0,
    publicHttpUrl: () => 'http://127.0.0.1:1',
    alarmThresholds: { offlineAfterMs: 1500, sweepMs: 250 },
    alarmWebhook: { url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` },
  });
  await core.start();
  app = await buildApp({ core, urls: () => ({ http: 'http://127.0.0.1:1', mqtt: `mqtt://127.0.0.1:${core.mqttPort}` }) });
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã Ven Biển', parentId: 'p', id: 'a' });
  await addUser(core, 'kythuat', 'technician', 'a');
  token = await login(app, 'kythuat');
});
afterAll(async () => {
  await app?.close();
  await core?.stop();
  await new Promise<void>((r) => hook.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

type AlarmView = { id: string; deviceId: string; deviceName: string; kind: string; raisedAt: string; clearedAt: string | null; ackedBy: string | null; labelVi: string };
const alarms = async (query = '') => (await app.inject({ method: 'GET', url: `/api/v1/alarms${query}`, headers: { authorization: `Bearer ${token}` } })).json() as AlarmView[];

describe('alarms', () => {
  it('raises, notifies, acknowledges and clears an over-temperature alarm; then an offline one', async () => {
    const { device, secret } = await core.devices.create({ name: 'Loa bến cá', areaId: 'a' });
    const amplifier = createSimulatedAmplifier();
    const config = parseAgentConfig({ deviceId: device.id, password: secret, mqttUrl: `mqtt://127.0.0.1:${core.mqttPort}`, httpUrl: 'http://127.0.0.1:1', cacheDir: join(dir, 'agent'), serial: { simulate: true }, audioSink: 'null', keepaliveSec: 2, serverKeys: core.signer.trusted() }, dir);
    const agent = await Agent.create(config, { amplifier });
    await agent.start();
    await until('online', () => core.mqtt.isOnline(device.id));

    const before = Date.now();
    amplifier.simulator.inject({ overTemperature: true });
    await until('alarm raised', async () => (await alarms('?active=true')).some((a) => a.kind === 'over-temperature'));
    const [raised] = await alarms('?active=true&kind=over-temperature');
    expect(raised).toMatchObject({ deviceId: device.id, deviceName: 'Loa bến cá', labelVi: 'Bộ khuếch đại quá nhiệt', clearedAt: null });
    expect(Date.parse(raised!.raisedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(raised!.raisedAt)).toBeLessThanOrEqual(Date.now());
    await until('webhook on raise', () => calls.some((c) => c['event'] === 'raised' && c['kind'] === 'over-temperature'));
    expect(calls.find((c) => c['event'] === 'raised')).toMatchObject({ deviceId: device.id, device: 'Loa bến cá', area: 'Xã Ven Biển', text: expect.stringContaining('quá nhiệt') });

    const acked = await app.inject({ method: 'POST', url: `/api/v1/alarms/${raised!.id}/ack`, headers: { authorization: `Bearer ${token}` } });
    expect(acked.statusCode, acked.body).toBe(200);
    expect(acked.json()).toMatchObject({ ackedBy: expect.any(String), ackedAt: expect.any(String) });

    amplifier.simulator.inject({ overTemperature: false });
    await until('alarm cleared', async () => (await alarms('?kind=over-temperature'))[0]?.clearedAt !== null);
    await until('webhook on clear', () => calls.some((c) => c['event'] === 'cleared' && c['kind'] === 'over-temperature'));

    // The agent vanishes: offline, then after the threshold the alarm (and its webhook).
    await agent.stop();
    await until('offline alarm', async () => (await alarms('?active=true')).some((a) => a.kind === 'offline' && a.deviceId === device.id), 10_000);
    await until('webhook on offline', () => calls.some((c) => c['event'] === 'raised' && c['kind'] === 'offline'));
  }, 30_000);

  it('raises and clears on telemetry and play reports by their thresholds', async () => {
    const { device } = await core.devices.create({ name: 'Loa chợ', areaId: 'a' });
    const now = new Date().toISOString();
    const t = { v: 1 as const, at: now, agentVersion: 't', uptimeSec: 1, desiredVersion: 0, outboxPending: 0 };
    await core.alarmRules.onTelemetry(device.id, { ...t, clockOffsetMs: 250, diskFreeBytes: 5, diskTotalBytes: 100 });
    expect(await core.alarms.isActive(device.id, 'clock-offset')).toBe(true);
    expect(await core.alarms.isActive(device.id, 'disk-full')).toBe(true);
    await core.alarmRules.onTelemetry(device.id, { ...t, clockOffsetMs: -40, diskFreeBytes: 50, diskTotalBytes: 100 });
    expect(await core.alarms.isActive(device.id, 'clock-offset')).toBe(false);
    expect(await core.alarms.isActive(device.id, 'disk-full')).toBe(false);
    const report = (status: 'failed' | 'completed', i: number) => ({ v: 1 as const, reportId: `r${i}`, playId: `p${i}`, scheduleId: 's', contentId: 'c', status, reason: 'content-missing', scheduledAt: now, playedMs: 0 });
    await core.alarmRules.onReport(device.id, report('failed', 1));
    await core.alarmRules.onReport(device.id, report('failed', 2));
    expect(await core.alarms.isActive(device.id, 'play-failures')).toBe(false);
    await core.alarmRules.onReport(device.id, report('failed', 3));
    expect(await core.alarms.isActive(device.id, 'play-failures')).toBe(true);
    await core.alarmRules.onReport(device.id, report('completed', 4));
    expect(await core.alarms.isActive(device.id, 'play-failures')).toBe(false);
    // History keeps both the raise and the clear.
    expect((await alarms(`?deviceId=${device.id}`)).map((a) => a.kind).sort()).toEqual(['clock-offset', 'disk-full', 'play-failures']);
  });

  it('measures each agent\'s clock against the server: a box 300 ms ahead raises clock-offset', async () => {
    const start = async (name: string, shiftMs: number) => {
      const { device, secret } = await core.devices.create({ name, areaId: 'a' });
      const clock = { ...systemClock, now: () => Date.now() + shiftMs };
      const config = parseAgentConfig({ deviceId: device.id, password: secret, mqttUrl: `mqtt://127.0.0.1:${core.mqttPort}`, httpUrl: 'http://127.0.0.1:1', cacheDir: join(dir, name), serial: { simulate: true }, audioSink: 'null', serverKeys: core.signer.trusted() }, dir);
      const agent = await Agent.create(config, { amplifier: createSimulatedAmplifier(), clock });
      await agent.start();
      return { device, agent };
    };
    const good = await start('loa-dung-gio', 0);
    const ahead = await start('loa-nhanh', 300);
    const offsetOf = async (id: string) => (await core.devices.get(id))?.latestTelemetry?.clockOffsetMs;
    await until('both measured', async () => (await offsetOf(good.device.id)) !== undefined && (await offsetOf(ahead.device.id)) !== undefined, 15_000);
    const goodOffset = await offsetOf(good.device.id);
    const aheadOffset = await offsetOf(ahead.device.id);
    process.stdout.write(`clock offsets measured: ${goodOffset} ms and ${aheadOffset} ms (true: 0 and +300)\n`);
    expect(Math.abs(goodOffset!)).toBeLessThan(20);
    expect(Math.abs(aheadOffset! - 300)).toBeLessThan(20);
    // The alarm rules run just after the telemetry is stored (a query or two later): waited for, not raced.
    await until('clock-offset raised', async () => await core.alarms.isActive(ahead.device.id, 'clock-offset'), 5000);
    expect(await core.alarms.isActive(good.device.id, 'clock-offset')).toBe(false);
    await good.agent.stop();
    await ahead.agent.stop();
  }, 30_000);
});
