/**
 * CAP 1.2 ingest end to end: our own test messages (tests/fixtures/cap, written after the
 * OASIS specification's examples) go through POST /alerts/cap to real agents in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requireTool } from './support.js';
import { startAgent, startAlertWorld, TimedSink, until, type AlertWorld, type RunningAgent } from './alert-support.js';

const ready = requireTool('ffmpeg') && requireTool('espeak-ng');
const SENDER = 'canhbao@nchmf.gov.vn';
const FIXTURES = new URL('./fixtures/cap/', import.meta.url);

interface AlertView {
  id: string;
  state: string;
  title: string;
  priority: string;
  repeat: number;
  contentId: string;
  replaces: string | null;
  replacedBy: string | null;
  targets: { areaIds: string[]; deviceIds: string[] };
  deliveries: { deviceId: string; state: string }[];
}
interface CapReply {
  action: string;
  reason?: string;
  alerts: AlertView[];
  error?: { code: string; message: string; messageVi: string };
}

function capFile(name: string, values: Record<string, string> = {}): string {
  const all: Record<string, string> = { SENDER, SENT: '2026-11-23T08:00:00+07:00', EXPIRES: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00'), ...values };
  return readFileSync(new URL(name, FIXTURES), 'utf8').replace(/\{\{(\w+)\}\}/g, (_m, k: string) => all[k] ?? '');
}

describe.runIf(ready)('CAP 1.2 ingest', () => {
  let world: AlertWorld;
  let staff: string;
  let haiAn: RunningAgent;
  let coast: RunningAgent;
  let inland: RunningAgent;

  beforeAll(async () => {
    world = await startAlertWorld({ capSenders: [SENDER], capAudioHosts: ['127.0.0.1'] });
    await world.addUser('kttv', 'alert-staff', world.provinceId);
    await world.addUser('van-hanh', 'operator', world.provinceId);
    staff = await world.token('kttv');
    haiAn = await startAgent(world, 'hai-an', world.communeId, { sink: new TimedSink(3000) });
    coast = await startAgent(world, 'ven-bien', world.otherCommuneId, { sink: new TimedSink(3000), position: { lat: 16.75, lon: 107.25 } });
    inland = await startAgent(world, 'noi-dong', world.otherCommuneId, { sink: new TimedSink(3000), position: { lat: 16.9, lon: 107.5 } });
    await until('online', () => [haiAn, coast, inland].every((a) => world.server.core.mqtt.isOnline(a.id)));
  }, 60_000);
  afterAll(async () => {
    for (const a of [haiAn, coast, inland]) await a?.agent.stop();
    await world?.close();
  });

  const postCap = (xml: string, token = staff) => world.api<CapReply>(token, 'POST', '/alerts/cap', xml, 'application/cap+xml');
  const view = async (id: string) => (await world.api<AlertView>(staff, 'GET', `/alerts/${id}`)).body;
  const stateOf = async (id: string, deviceId: string) => (await view(id)).deliveries.find((d) => d.deviceId === deviceId)?.state;

  it('Alert → Update → Cancel: areas by geocode and polygon, the Vietnamese info spoken, replaced, then silenced', async () => {
    const alert = await postCap(capFile('storm-alert.xml'));
    expect(alert.status).toBe(201);
    expect(alert.body.action).toBe('created');
    const first = alert.body.alerts[0]!;
    expect(first).toMatchObject({ title: 'Bão số 3 đổ bộ vào Quảng Trị', priority: 'emergency', repeat: 2 });
    expect(first.targets).toEqual({ areaIds: [world.communeId], deviceIds: [coast.id] });
    expect(first.deliveries.map((d) => d.deviceId).sort()).toEqual([haiAn.id, coast.id].sort());
    await until('both started', async () => (await stateOf(first.id, haiAn.id)) === 'started' && (await stateOf(first.id, coast.id)) === 'started');

    const update = await postCap(capFile('storm-update.xml'));
    expect(update.status).toBe(201);
    expect(update.body.action).toBe('updated');
    const second = update.body.alerts[0]!;
    expect(second).toMatchObject({ title: 'Bão số 3 suy yếu', replaces: first.id, priority: 'emergency' });
    expect((await view(first.id)).state).toBe('replaced');
    expect((await view(first.id)).replacedBy).toBe(second.id);
    // The coast speaker is no longer targeted: it stops the old warning too.
    await until('old alert stopped', async () => (await stateOf(first.id, coast.id)) === 'cancelled' && (await stateOf(first.id, haiAn.id)) === 'cancelled');
    await until('update playing', async () => (await stateOf(second.id, haiAn.id)) === 'started');

    const cancel = await postCap(capFile('storm-cancel.xml'));
    expect(cancel.status).toBe(200);
    expect(cancel.body.action).toBe('cancelled');
    expect((await view(second.id)).state).toBe('cancelled');
    await until('silenced', async () => (await stateOf(second.id, haiAn.id)) === 'cancelled');
    // A second cancel finds nothing active.
    expect((await postCap(capFile('storm-cancel.xml'))).body.action).toBe('ignored');
  }, 60_000);

  it('takes the audio a message carries (derefUri) and targets speakers inside its circle', async () => {
    const ogg = join(world.dir, 'xa-lu.ogg');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', '-ac', '1', '-c:a', 'libopus', ogg]);
    const res = await postCap(capFile('dam-release-audio.xml', { AUDIO_BASE64: readFileSync(ogg).toString('base64').replace(/(.{76})/g, '$1\n') }));
    expect(res.status).toBe(201);
    const a = res.body.alerts[0]!;
    // Moderate severity: it waits for what plays instead of cutting in.
    expect(a).toMatchObject({ priority: 'priority', repeat: 1, targets: { areaIds: [], deviceIds: [coast.id] } });
    const content = await world.server.core.content.require(a.contentId);
    expect(content.originalName).toBe('Thông báo xả lũ (ghi âm)');
    expect(Math.abs(content.durationMs - 2000)).toBeLessThan(100);
    await until('finished', async () => (await stateOf(a.id, coast.id)) === 'finished', 20_000);
  }, 30_000);

  it('fetches audio by uri only from allowed hosts; from any other it speaks the text instead', async () => {
    const ogg = join(world.dir, 'xa-lu-uri.ogg');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=400:duration=3', '-ac', '1', '-c:a', 'libopus', ogg]);
    const files = createServer((req, res) => (req.url === '/xa-lu.ogg' ? res.writeHead(200, { 'content-type': 'audio/ogg' }).end(readFileSync(ogg)) : res.writeHead(404).end()));
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    const port = (files.address() as AddressInfo).port;
    try {
      const allowed = await postCap(capFile('dam-release-uri.xml', { AUDIO_URI: `http://127.0.0.1:${port}/xa-lu.ogg` }));
      expect(allowed.status).toBe(201);
      const fetched = await world.server.core.content.require(allowed.body.alerts[0]!.contentId);
      expect(fetched.originalName).toBe('Thông báo xả lũ (ghi âm)');
      expect(Math.abs(fetched.durationMs - 3000)).toBeLessThan(100);
      // Same server, another name for it: not on the list, so nothing is fetched and the headline is spoken.
      const refused = await postCap(capFile('dam-release-uri.xml', { AUDIO_URI: `http://localhost:${port}/xa-lu.ogg` }).replace('QT-THUYDIEN-2026-12', 'QT-THUYDIEN-2026-13'));
      expect(refused.status).toBe(201);
      const spoken = await world.server.core.content.require(refused.body.alerts[0]!.contentId);
      expect(spoken.originalName).toBeNull();
      expect(spoken.title).toBe('Thủy điện Quảng Trị xả lũ lúc 14 giờ');
    } finally {
      files.close();
    }
  }, 30_000);

  it('acknowledges an Exercise without sounding it, and refuses strangers, bad XML, missing fields and operators', async () => {
    const before = (await world.server.core.alerts.repo.list(1000)).length;
    const drill = await postCap(capFile('flood-exercise.xml'));
    expect(drill.status).toBe(202);
    expect(drill.body).toMatchObject({ action: 'ignored', reason: 'status Exercise: recorded, not broadcast' });
    expect((await world.server.core.alerts.repo.list(1000)).length).toBe(before);

    const stranger = await postCap(capFile('storm-alert.xml', { SENDER: 'someone@example.com' }));
    expect(stranger.status).toBe(403);
    expect(stranger.body.error?.messageVi).toContain('không có trong danh sách cho phép');

    const broken = await postCap('<alert><identifier>x</identifier>');
    expect(broken.status).toBe(400);
    expect(broken.body.error?.message).toContain('CAP');

    const noStatus = await postCap(capFile('storm-alert.xml').replace('<status>Actual</status>', ''));
    expect(noStatus.status).toBe(400);
    expect(noStatus.body.error?.message).toContain('<status>');
    expect(noStatus.body.error?.messageVi).toContain('thiếu trường bắt buộc');

    const badShape = await postCap(capFile('storm-alert.xml').replace('16.80,107.20 16.80,107.30', '16.80;107.20'));
    expect(badShape.status).toBe(400);

    const operator = await world.token('van-hanh');
    expect((await postCap(capFile('storm-alert.xml'), operator)).status).toBe(403);
    expect((await world.server.core.alerts.repo.list(1000)).length).toBe(before);
  }, 30_000);
});
