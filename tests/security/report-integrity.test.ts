/**
 * A speaker cannot inflate its proof of play (issue 14): over real MQTT, a device reports a play
 * it was never given, claims 27 hours for a 5-second play, rewrites a play it reported skipped,
 * and reports an alert repetition the alert does not have. Each is refused, kept for the
 * record, counted in /metrics and written to the audit log; honest reports still count, the
 * daily report stays true, and the agent gets its ack either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic, parseEnvelope, type PlayReport } from '@loalang/protocol';
import { addUser, buildTestServer, login, type TestServer } from '@loalang/test-kit';

let t: TestServer;
let token: string;
let device: { id: string; secret: string };
let client: MqttClient;
const acks: string[] = [];
let plays: { playId: string; scheduleId: string; contentId: string; durationMs: number }[] = [];

beforeAll(async () => {
  t = await buildTestServer();
  const { core } = t;
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã', parentId: 'p', id: 'a' });
  const created = await core.devices.create({ name: 'Loa chợ', areaId: 'a' });
  device = { id: created.device.id, secret: created.secret };
  await core.content.insert({ id: 'bulletin', title: 'Bản tin', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 5000, source: {}, createdBy: null });
  await addUser(core, 'tinh', 'admin', 'p');
  token = await login(t.app, 'tinh');
  const admin = (await core.users.list()).find((u) => u.username === 'tinh')!;
  const start = new Date(Date.now() + 3600_000).toISOString();
  await core.schedules.create({ title: 'Bản tin sáng', areaId: 'a', priority: 'normal', start, items: [{ contentId: 'bulletin' }], targets: { areaIds: ['a'], deviceIds: [] }, volume: null, recurrence: null, repeat: { count: 2, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id });
  await core.refreshDevices([device.id]);
  plays = (await core.desired.refresh(device.id)).state.plays;
  client = await mqtt.connectAsync(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: device.secret, reconnectPeriod: 0 });
  await client.subscribeAsync(deviceTopic(device.id, 'report/ack'), { qos: 1 });
  client.on('message', (_topic, payload) => {
    const envelope = parseEnvelope(payload.toString());
    if (envelope.ok) acks.push((envelope.value.body as { reportId: string }).reportId);
  });
});
afterAll(async () => {
  await client?.endAsync();
  await t?.close();
});

/** Publishes a report as the device and waits for the server's ack. */
async function send(r: Omit<PlayReport, 'v'>): Promise<void> {
  await client.publishAsync(deviceTopic(device.id, 'report'), JSON.stringify({ v: 1, ...r }), { qos: 1 });
  const end = Date.now() + 5000;
  while (!acks.includes(r.reportId)) {
    if (Date.now() > end) throw new Error(`no ack for ${r.reportId}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

const stored = () => t.core.reports.query({ deviceIds: new Set([device.id]) });
const refusedAs = async (reportId: string) => (await t.core.database.selectFrom('refused_reports').select('refusal').where('report_id', '=', reportId).executeTakeFirst())?.refusal;
const base = () => ({ playId: plays[0]!.playId, scheduleId: plays[0]!.scheduleId, contentId: 'bulletin', scheduledAt: new Date().toISOString() });

describe('play reports are checked against what the device was given', () => {
  it('refuses a play the device was never given', async () => {
    await send({ ...base(), reportId: 'invented', playId: 'never-sent_0_1', status: 'completed', playedMs: 4000 });
    expect(await refusedAs('invented')).toBe('unknown-play');
    await send({ ...base(), reportId: 'other-content', contentId: 'someone-elses', status: 'completed', playedMs: 4000 });
    expect(await refusedAs('other-content')).toBe('unknown-play');
    expect(await stored()).toEqual([]);
  });

  it('keeps a play\'s first final report: a later "completed, 99,999,999 ms" for a play reported skipped is refused', async () => {
    await send({ ...base(), reportId: 'skip', status: 'skipped', reason: 'late', playedMs: 0 });
    await send({ ...base(), reportId: 'inflate', status: 'completed', playedMs: 99_999_999 });
    expect(await refusedAs('inflate')).toBe('too-long');
    await send({ ...base(), reportId: 'rewrite', status: 'completed', playedMs: 5000 });
    expect(await refusedAs('rewrite')).toBe('already-reported');
    expect((await stored()).map((r) => [r.reportId, r.status, r.playedMs])).toEqual([['skip', 'skipped', 0]]);
  });

  it('refuses more audio than the play holds, and a skipped play that played', async () => {
    const second = { ...base(), playId: plays[1]!.playId };
    await send({ ...second, reportId: 'long', status: 'completed', playedMs: 5000 + 2001 });
    expect(await refusedAs('long')).toBe('too-long');
    await send({ ...second, reportId: 'odd', status: 'skipped', playedMs: 3000 });
    expect(await refusedAs('odd')).toBe('inconsistent');
    await send({ ...second, reportId: 'wrong-schedule', scheduleId: 'another', status: 'completed', playedMs: 5000 });
    expect(await refusedAs('wrong-schedule')).toBe('wrong-schedule');
    // The honest report of that play still counts, within the tolerance of pacing.
    await send({ ...second, reportId: 'honest', status: 'completed', playedMs: 5040 });
    expect((await stored()).find((r) => r.reportId === 'honest')).toMatchObject({ status: 'completed', playedMs: 5040 });
  });

  it('accepts an alert\'s repetitions sent to the device, and refuses one beyond them', async () => {
    const alert = await t.core.alerts.create({ title: 'Lũ', text: null, contentId: 'bulletin', priority: 'emergency', targets: { areaIds: ['a'], deviceIds: [] }, repeat: 2, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null });
    const rep = (n: number) => ({ playId: `${alert.id}-r${n}`, scheduleId: alert.id, contentId: 'bulletin', scheduledAt: alert.startAt });
    await send({ ...rep(1), reportId: 'alert-1', status: 'completed', playedMs: 5000 });
    await send({ ...rep(3), reportId: 'alert-3', status: 'completed', playedMs: 5000 });
    expect((await stored()).some((r) => r.reportId === 'alert-1')).toBe(true);
    expect(await refusedAs('alert-3')).toBe('unknown-play');
    await t.core.alerts.cancel(alert.id);
  });

  it('a refused report sent again is one refusal; the daily report shows only what played; /metrics and the audit log show the refusals', async () => {
    await send({ ...base(), reportId: 'inflate', status: 'completed', playedMs: 99_999_999 });
    const daily = await t.app.inject({ method: 'GET', url: '/api/v1/reports/daily?groupBy=device', headers: { authorization: `Bearer ${token}` } });
    const rows = (daily.json() as { rows: { groupId: string; seconds: number; plays: number; skipped: number }[] }).rows.filter((r) => r.groupId === device.id);
    expect(rows.reduce((n, r) => n + r.seconds, 0)).toBe(10); // the honest bulletin and the alert's first repetition
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body;
    expect(metrics).toContain('loalang_reports_refused_total{refusal="unknown-play"} 3');
    expect(metrics).toContain('loalang_reports_refused_total{refusal="too-long"} 2');
    expect(metrics).toContain('loalang_reports_refused_total{refusal="already-reported"} 1');
    expect(metrics).toContain('loalang_reports_refused_total{refusal="inconsistent"} 1');
    const audit = await t.core.audit.query({ action: 'report-refused', limit: 50 });
    expect(audit).toHaveLength(8);
    expect(audit.every((e) => e.source === `device:${device.id}` && e.target === device.id)).toBe(true);
    expect(audit.find((e) => (e.detail as { report: { reportId: string } }).report.reportId === 'inflate')?.detail).toMatchObject({ refusal: 'too-long', report: { playedMs: 99_999_999 } });
  });
});
