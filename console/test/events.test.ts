/**
 * The console's live stream (GET /events) over real HTTP with a real agent on the real broker:
 * the technician's stream carries the device coming online, a command's result and an alarm's
 * raise and clear; a user of another commune sees none of it, and once that user is disabled
 * their open stream is ended.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { readEvents, until } from '@loalang/test-kit';
import { SESSION_CHECK_MS } from '../src/sse.js';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let server: TestServer;
let base = '';
let technician = '';
let stranger = '';
let admin = '';

beforeAll(async () => {
  server = await buildTestServer();
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}/api/v1`;
  const { core } = server;
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã Ven Biển', parentId: 'p', id: 'a' });
  await core.areas.create({ name: 'Xã Trong Đồng', parentId: 'p', id: 'b' });
  await addUser(core, 'kythuat', 'technician', 'a');
  await addUser(core, 'nguoila', 'technician', 'b');
  await addUser(core, 'quantri', 'admin', 'p');
  admin = await login(server.app, 'quantri');
  technician = await login(server.app, 'kythuat');
  stranger = await login(server.app, 'nguoila');
});
afterAll(async () => server?.close());

type Event = { event: string; data: unknown };
const listen = (token: string) => readEvents(`${base}/events`, token);

describe('GET /events', () => {
  it('refuses a caller without a token', async () => {
    const anonymous = readEvents(`${base}/events`, null);
    expect(await anonymous.status).toBe(401);
    anonymous.close();
  });

  it('streams presence, health, command results and alarms of the caller\'s areas only', async () => {
    const mine = listen(technician);
    const theirs = listen(stranger);
    expect(await mine.status).toBe(200);
    await until('hello', () => mine.events[0]?.event === 'hello' && theirs.events[0]?.event === 'hello');

    const { core } = server;
    const { device, secret } = await core.devices.create({ name: 'Loa bến cá', areaId: 'a' });
    const amplifier = createSimulatedAmplifier();
    const config = parseAgentConfig(
      { deviceId: device.id, password: secret, mqttUrl: `mqtt://127.0.0.1:${core.mqttPort}`, httpUrl: 'http://127.0.0.1:1', cacheDir: join(server.dir, 'agent'), serial: { simulate: true }, audioSink: 'null', serverKeys: core.signer.trusted() },
      server.dir,
    );
    const agent = await Agent.create(config, { amplifier });
    await agent.start();
    try {
      const devicesIn = (l: { events: Event[] }) => l.events.filter((e) => e.event === 'devices').flatMap((e) => e.data as { id: string; online: boolean; latestTelemetry: unknown }[]);
      await until('online in the stream', () => devicesIn(mine).some((d) => d.id === device.id && d.online));
      await until('telemetry in the stream', () => devicesIn(mine).some((d) => d.id === device.id && d.latestTelemetry !== null));

      const issued = await fetch(`${base}/devices/${device.id}/commands`, { method: 'POST', headers: { authorization: `Bearer ${technician}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'amp-test' }) });
      expect(issued.status).toBe(202);
      const { id: commandId } = (await issued.json()) as { id: string };
      await until('command result', () => mine.events.some((e) => e.event === 'command' && (e.data as { id: string; status: string }).id === commandId));
      const result = mine.events.find((e) => e.event === 'command')!.data as { deviceId: string; status: string };
      expect(result).toMatchObject({ deviceId: device.id, status: 'succeeded' });

      amplifier.simulator.inject({ overTemperature: true });
      await until('alarm raised', () => mine.events.some((e) => e.event === 'alarm' && (e.data as { type: string }).type === 'raised'));
      const raised = mine.events.find((e) => e.event === 'alarm')!.data as { alarm: { kind: string; deviceName: string; labelVi: string } };
      expect(raised.alarm).toMatchObject({ kind: 'over-temperature', deviceName: 'Loa bến cá', labelVi: 'Bộ khuếch đại quá nhiệt' });
      amplifier.simulator.inject({ overTemperature: false });
      await until('alarm cleared', () => mine.events.some((e) => e.event === 'alarm' && (e.data as { type: string }).type === 'cleared'));

      // Nothing of commune A reached commune B's technician.
      expect(theirs.events.map((e) => e.event)).toEqual(['hello']);
      // Their account is disabled: their open stream ends within seconds, and a new one is refused.
      const res = await fetch(`${base}/users/${(await core.users.list()).find((u) => u.username === 'nguoila')!.id}`, { method: 'PATCH', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ disabled: true }) });
      expect(res.status).toBe(200);
      const t0 = Date.now();
      await theirs.ended;
      expect(Date.now() - t0).toBeLessThan(SESSION_CHECK_MS + 2000);
      expect(await listen(stranger).status).toBe(401);
    } finally {
      mine.close();
      theirs.close();
      await agent.stop();
    }
  }, 30_000);
});
