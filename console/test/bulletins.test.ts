/**
 * Issue 21 item 2: bulletins from the province's source-information system (HTTTN), delivered
 * with a service account's key, on a real server (SQLite here, PostgreSQL in the project
 * 'postgres') on a manual clock. Idempotent on (caller, upstream id), even when identical
 * deliveries race; a changed body is 409; codes name areas of the caller's scope; the area's
 * approval rule decides; an emergency is an alert when the caller may send alerts and a waiting
 * priority schedule when not; audio URLs only from the allowed hosts; failures are stored and
 * may be retried; outcomes (scheduled, played with counts from stored reports, rejected,
 * expired) come from the leader's check and are emitted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ManualClock, until } from '@loalang/test-kit';
import { alertPlayId } from '@loalang/protocol';
import { BULLETIN_CHECK_MS, HttpSpeechEngine, REPORT_GRACE_MS, type Bulletin } from '@loalang/broker';
import type { ServiceAccountKey } from '../src/responses/index.js';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

const START = Date.parse('2026-11-30T01:00:00Z');

describe('bulletin intake', () => {
  let t: TestServer;
  const clock = new ManualClock(START);
  /** Service-account keys: an admin over the province (may alert), an operator over it (may not). */
  let adminKey: string;
  let operatorKey: string;
  let sourceKey: string;
  let adminToken: string;
  let audio: Server;
  let audioBase: string;
  const outcomes: Bulletin[] = [];
  const devices: Record<string, string> = {};
  let slot = 0;

  const post = (key: string, body: Record<string, unknown>, header: 'bearer' | 'x-api-key' = 'bearer') =>
    t.app.inject({ method: 'POST', url: '/api/v1/bulletins', headers: header === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key }, payload: body });
  const get = (key: string, url: string) => t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${key}` } });
  /** A body due in its own quarter hour, so bulletins to one commune never overlap (a conflict). */
  const body = (over: Record<string, unknown>) => ({
    id: `htttn-${++slot}`,
    title: `Bản tin ${slot}`,
    text: 'Thông báo lịch tiêm phòng cho gia súc vào sáng thứ bảy.',
    areaCodes: ['00001'],
    priority: 'normal',
    validFrom: new Date(clock.now() + slot * 15 * 60_000).toISOString(),
    ...over,
  });
  const scheduleCount = async () => (await t.core.schedules.list()).length;
  const stored = async (id: string) => (await get(adminKey, `/bulletins/${id}`)).json() as Bulletin;

  beforeAll(async () => {
    t = await buildTestServer({ clock });
    const { core } = t;
    await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p', geocodes: ['01'] });
    await core.areas.create({ name: 'Huyện', parentId: 'p', id: 'd', geocodes: ['001'] });
    await core.areas.create({ name: 'Xã Không Duyệt', parentId: 'd', id: 'x', geocodes: ['00001'], scheduleApproval: 'none' });
    await core.areas.create({ name: 'Xã Duyệt', parentId: 'd', id: 'y', geocodes: ['00004'], scheduleApproval: 'operators' });
    await core.areas.create({ name: 'Xã Bốn Mắt', parentId: 'd', id: 'z', geocodes: ['00007'], scheduleApproval: 'all' });
    await core.areas.create({ name: 'Tỉnh khác', parentId: null, id: 'q', geocodes: ['02'] });
    await core.areas.create({ name: 'Xã tỉnh khác', parentId: 'q', id: 'k', geocodes: ['09999'] });
    for (const [name, area] of [['x1', 'x'], ['x2', 'x'], ['y1', 'y'], ['z1', 'z'], ['k1', 'k']] as const) devices[name] = (await core.devices.create({ name: `Loa ${name}`, areaId: area })).device.id;
    await addUser(core, 'admin-root', 'admin', 'p');
    adminToken = await login(t.app, 'admin-root');
    const makeKey = async (name: string, role: string) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: { authorization: `Bearer ${adminToken}` }, payload: { name, role, areaId: 'p' } });
      expect(res.statusCode, res.body).toBe(201);
      return (res.json() as ServiceAccountKey).key;
    };
    adminKey = await makeKey('htttn-admin', 'admin');
    operatorKey = await makeKey('htttn', 'operator');
    sourceKey = await makeKey('htttn-nguon', 'source-system');
    core.bulletins.events.on('outcome', (b) => outcomes.push(b));
    // Audio an upstream system points at: a tone, bytes that are not audio, a missing file.
    const wav = join(t.dir, 'tone.wav');
    execFileSync(core.media.tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', wav]);
    const tone = readFileSync(wav);
    audio = createServer((req, res) => {
      if (req.url === '/tone.wav') return res.writeHead(200, { 'content-type': 'audio/wav' }).end(tone);
      if (req.url === '/broken.wav') return res.writeHead(200, { 'content-type': 'audio/wav' }).end(Buffer.from('RIFF not really audio at all'));
      if (req.url === '/moved.wav') return res.writeHead(302, { location: '/tone.wav' }).end();
      return res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => audio.listen(0, '127.0.0.1', resolve));
    audioBase = `http://127.0.0.1:${(audio.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => audio?.close(resolve));
  });

  it('speaks text into a schedule (rule none: approved at once); a resend is the stored bulletin (200), a changed body 409 in both languages', async () => {
    const b = body({});
    const first = await post(operatorKey, b);
    expect(first.statusCode, first.body).toBe(201);
    const made = first.json() as Bulletin;
    expect(made).toMatchObject({ upstreamId: b.id, state: 'scheduled', areaIds: ['x'], unmatchedCodes: [], priority: 'normal', reason: null, validFrom: b.validFrom, validUntil: null });
    const schedule = await t.core.schedules.require(made.scheduleId!);
    expect(schedule).toMatchObject({ status: 'approved', priority: 'normal', areaId: 'x', start: b.validFrom, items: [{ contentId: made.contentId }] });
    expect((await t.core.content.require(made.contentId!)).kind).toBe('tts');
    const schedules = await scheduleCount();
    // The same body again, by the other header and with its keys in another order: the same bulletin, nothing new.
    const again = await post(operatorKey, Object.fromEntries(Object.entries(b).reverse()), 'x-api-key');
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual(made);
    expect(await scheduleCount()).toBe(schedules);
    const changed = await post(operatorKey, { ...b, title: 'Tiêu đề khác' });
    expect(changed.statusCode).toBe(409);
    const err = (changed.json() as { error: { code: string; message: string; messageVi: string } }).error;
    expect(err.code).toBe('LOA_ERR_CONFLICT');
    expect(err.message).toContain(`bulletin id ${b.id} was delivered before with a different body`);
    expect(err.messageVi).toContain(`mã bản tin ${b.id} đã được gửi trước đó với nội dung khác`);
    expect(await scheduleCount()).toBe(schedules);
    // Read back by our id, by the upstream id, and in the list.
    expect((await get(operatorKey, `/bulletins/${made.id}`)).json()).toEqual(made);
    expect((await get(operatorKey, `/bulletins/by-upstream/${b.id}`)).json()).toEqual(made);
    const listed = (await get(operatorKey, '/bulletins?state=scheduled')).json() as Bulletin[];
    expect(listed.map((x) => x.id)).toContain(made.id);
    expect(((await get(operatorKey, '/bulletins?state=failed')).json() as Bulletin[]).map((x) => x.id)).not.toContain(made.id);
    // The receive is in the audit log under the key's account.
    const log = await t.core.audit.query({ action: 'POST /api/v1/bulletins', limit: 10 });
    expect(log.find((e) => e.status === 201)).toMatchObject({ username: 'sa:htttn', detail: expect.objectContaining({ bulletinId: made.id, upstreamId: b.id, replay: false }) });
    expect(log.find((e) => e.status === 200)).toMatchObject({ detail: expect.objectContaining({ bulletinId: made.id, replay: true }) });
  });

  it('makes one bulletin when identical deliveries race (the unique key decides)', async () => {
    const b = body({});
    const schedules = await scheduleCount();
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(operatorKey, b)));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => (a.json() as Bulletin).id)).size).toBe(1);
    const rows = await t.core.database.selectFrom('bulletins').selectAll().where('upstream_id', '=', b.id).execute();
    expect(rows).toHaveLength(1);
    expect(await scheduleCount()).toBe(schedules + 1);
  });

  it('makes one bulletin when identical deliveries race inside the service (all read "none" before any claims)', async () => {
    await addUser(t.core, 'op-p', 'operator', 'p');
    const user = (await t.core.users.list()).find((u) => u.username === 'op-p')!;
    const caller = { user, scope: await t.core.areas.subtreeIds('p') };
    const b = body({}) as Parameters<typeof t.core.bulletins.receive>[1];
    const schedules = await scheduleCount();
    const results = await Promise.all(Array.from({ length: 5 }, () => t.core.bulletins.receive(caller, b)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.bulletin.id)).size).toBe(1);
    expect(await t.core.database.selectFrom('bulletins').selectAll().where('upstream_id', '=', b.id).execute()).toHaveLength(1);
    expect(await scheduleCount()).toBe(schedules + 1);
  });

  it('reports codes that match no area in scope, and refuses (400, naming them) when none matches', async () => {
    const some = await post(operatorKey, body({ areaCodes: ['00001', '99999', '09999'] }));
    expect(some.statusCode, some.body).toBe(201);
    expect(some.json()).toMatchObject({ areaIds: ['x'], unmatchedCodes: ['99999', '09999'] });
    const b = body({ areaCodes: ['99999', '09999'] });
    const none = await post(operatorKey, b);
    expect(none.statusCode).toBe(400);
    const err = (none.json() as { error: { message: string; messageVi: string } }).error;
    expect(err.message).toContain('no area in your scope has the codes 99999, 09999');
    expect(err.messageVi).toContain('không địa bàn nào trong phạm vi của bạn có mã 99999, 09999');
    expect((await get(operatorKey, `/bulletins/by-upstream/${b.id}`)).statusCode).toBe(404);
    // Exactly one of text and audioUrl.
    expect((await post(operatorKey, body({ audioUrl: `${audioBase}/tone.wav` }))).statusCode).toBe(400);
    // validUntil after validFrom.
    const from = body({});
    expect((await post(operatorKey, { ...from, validUntil: from.validFrom })).statusCode).toBe(400);
  });

  it("follows each area's approval rule: none, operators, all (four eyes)", async () => {
    const state = async (key: string, code: string) => {
      const res = await post(key, body({ areaCodes: [code] }));
      expect(res.statusCode, res.body).toBe(201);
      const b = res.json() as Bulletin;
      expect((await t.core.schedules.require(b.scheduleId!)).status).toBe(b.state === 'scheduled' ? 'approved' : 'pending');
      return b.state;
    };
    expect(await state(operatorKey, '00001')).toBe('scheduled');
    expect(await state(operatorKey, '00004')).toBe('pending-approval');
    expect(await state(operatorKey, '00007')).toBe('pending-approval');
    expect(await state(adminKey, '00001')).toBe('scheduled');
    expect(await state(adminKey, '00004')).toBe('scheduled');
    expect(await state(adminKey, '00007')).toBe('pending-approval');
  });

  it('sends an emergency as an alert when the caller may alert; otherwise a priority schedule that waits, saying why', async () => {
    const urgent = body({ priority: 'emergency', areaCodes: ['00001'] });
    const alerted = await post(adminKey, { ...urgent, validUntil: new Date(Date.parse(urgent.validFrom) + 3600_000).toISOString() });
    expect(alerted.statusCode, alerted.body).toBe(201);
    const a = alerted.json() as Bulletin;
    expect(a).toMatchObject({ state: 'broadcasting', scheduleId: null, priority: 'emergency' });
    const alert = await t.core.alerts.repo.require(a.alertId!);
    expect(alert).toMatchObject({ priority: 'emergency', state: 'active', targets: { areaIds: ['x'], deviceIds: [] }, contentId: a.contentId, createdBy: a.sourceId });
    expect((await t.core.content.require(a.contentId!)).kind).toBe('alert');
    // Not allowed to alert: never dropped, never an emergency; it waits even where the rule is none.
    const held = await post(operatorKey, body({ priority: 'emergency', areaCodes: ['00001'] }));
    expect(held.statusCode, held.body).toBe(201);
    const h = held.json() as Bulletin;
    expect(h).toMatchObject({ state: 'pending-approval', priority: 'emergency', alertId: null });
    expect(h.reason).toContain('chờ phê duyệt');
    expect(h.reason).toContain('waits for approval');
    expect(await t.core.schedules.require(h.scheduleId!)).toMatchObject({ status: 'pending', priority: 'priority' });
    // The role made for the HTTTN: its emergency sounds at once, a normal bulletin waits where the
    // area's rule says (y: operators), and it may not approve that schedule itself.
    const fromSource = await post(sourceKey, body({ priority: 'emergency', areaCodes: ['00001'] }));
    expect(fromSource.statusCode, fromSource.body).toBe(201);
    expect(fromSource.json()).toMatchObject({ state: 'broadcasting', priority: 'emergency', scheduleId: null });
    const normal = await post(sourceKey, body({ priority: 'normal', areaCodes: ['00004'] }));
    expect(normal.statusCode, normal.body).toBe(201);
    const n = normal.json() as Bulletin;
    expect(n).toMatchObject({ state: 'pending-approval', alertId: null });
    const approve = await t.app.inject({ method: 'POST', url: `/api/v1/schedules/${n.scheduleId}/approve`, headers: { authorization: `Bearer ${sourceKey}` } });
    expect(approve.statusCode).toBe(403);
  });

  it('follows an alert to its outcome: played when every speaker reported, expired when none did before it ended', async () => {
    // An emergency goes out at once: validFrom is not waited for.
    const urgent = body({ priority: 'emergency', areaCodes: ['00001'], validFrom: undefined });
    const heard = (await post(adminKey, { ...urgent, validUntil: new Date(clock.now() + 3600_000).toISOString() })).json() as Bulletin;
    expect(heard.state).toBe('broadcasting');
    const alert = await t.core.alerts.repo.require(heard.alertId!);
    const duration = (await t.core.content.require(alert.contentId)).durationMs;
    await t.core.bulletinProgress.check();
    expect((await stored(heard.id)).state).toBe('broadcasting');
    for (const name of ['x1', 'x2']) {
      const outcome = await t.core.reportIntake.accept(devices[name]!, { v: 1, reportId: `${name}-${alert.id}`, playId: alertPlayId(alert.id, 1), scheduleId: alert.id, contentId: alert.contentId, status: 'completed', scheduledAt: alert.startAt, startedAt: alert.startAt, endedAt: alert.startAt, playedMs: duration });
      expect(outcome.outcome).toBe('stored');
    }
    await t.core.bulletinProgress.check();
    expect(await stored(heard.id)).toMatchObject({ state: 'played', counts: { targeted: 2, played: 2, failed: 0, noReport: 0 } });
    // No speaker reports: when the alert ends (its expiry, on the clock) the bulletin expires, saying so.
    const silent = body({ priority: 'emergency', areaCodes: ['00004'], validFrom: undefined });
    const unheard = (await post(adminKey, { ...silent, validUntil: new Date(clock.now() + 600_000).toISOString() })).json() as Bulletin;
    expect(unheard.state).toBe('broadcasting');
    await clock.advanceAsync(600_000 + 1000);
    await until('the alert expires', async () => (await t.core.alerts.repo.require(unheard.alertId!)).state === 'expired');
    await t.core.bulletinProgress.check();
    expect(await stored(unheard.id)).toMatchObject({ state: 'expired', counts: { targeted: 1, played: 0, noReport: 1 }, reason: expect.stringContaining('No speaker reported playing it') });
  });

  it('fetches audio only from the allowed hosts, without redirects; a refused or broken one is stored failed and may be sent again', async () => {
    t.core.bulletinAudioHosts = [];
    const b = body({ text: undefined, audioUrl: `${audioBase}/tone.wav` });
    const refused = await post(operatorKey, b);
    expect(refused.statusCode).toBe(400);
    expect((refused.json() as { error: { message: string; messageVi: string } }).error).toMatchObject({
      message: expect.stringContaining('audio host 127.0.0.1 is not on LOALANG_BULLETIN_AUDIO_HOSTS'),
      messageVi: expect.stringContaining('audioUrl bị từ chối'),
    });
    const failed = (await get(operatorKey, `/bulletins/by-upstream/${b.id}`)).json() as Bulletin;
    expect(failed).toMatchObject({ state: 'failed', scheduleId: null, reason: expect.stringContaining('LOALANG_BULLETIN_AUDIO_HOSTS') });
    expect(outcomes.filter((o) => o.id === failed.id).map((o) => o.state)).toEqual(['failed']);
    t.core.bulletinAudioHosts = ['127.0.0.1'];
    // The same id again, now that the host is allowed: the same bulletin, made this time.
    const retried = await post(operatorKey, b);
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.json()).toMatchObject({ id: failed.id, state: 'scheduled', reason: null });
    const item = await t.core.content.require((retried.json() as Bulletin).contentId!);
    expect(item).toMatchObject({ kind: 'upload', originalName: 'tone.wav' });
    expect(item.durationMs).toBeGreaterThan(1500);
    const missing = await post(operatorKey, body({ text: undefined, audioUrl: `${audioBase}/gone.wav` }));
    expect(missing.statusCode).toBe(502);
    expect(missing.json()).toMatchObject({ error: { code: 'LOA_ERR_UPSTREAM_UNREACHABLE', message: expect.stringContaining('HTTP 404'), messageVi: expect.stringContaining('không tải được audioUrl') } });
    const moved = await post(operatorKey, body({ text: undefined, audioUrl: `${audioBase}/moved.wav` }));
    expect(moved.statusCode).toBe(502);
    const broken = body({ text: undefined, audioUrl: `${audioBase}/broken.wav` });
    const bad = await post(operatorKey, broken);
    expect(bad.statusCode).toBeGreaterThanOrEqual(400);
    expect(bad.statusCode).toBeLessThan(500);
    expect(((await get(operatorKey, `/bulletins/by-upstream/${broken.id}`)).json() as Bulletin).state).toBe('failed');
  });

  it('moves a waiting bulletin to scheduled when approved, and to played with counts from the stored reports', async () => {
    const res = await post(operatorKey, body({ areaCodes: ['00004', '00001'], repeat: { count: 2, gapSec: 5 } }));
    expect(res.statusCode, res.body).toBe(201);
    const b = res.json() as Bulletin;
    // Two communes with different rules: their district's rule (inherited: operators) decides.
    expect(b).toMatchObject({ state: 'pending-approval', areaIds: ['x', 'y'] });
    expect((await t.core.schedules.require(b.scheduleId!)).areaId).toBe('d');
    const approve = await t.app.inject({ method: 'POST', url: `/api/v1/schedules/${b.scheduleId}/approve`, headers: { authorization: `Bearer ${adminToken}` } });
    expect(approve.statusCode, approve.body).toBe(200);
    await t.core.bulletinProgress.check();
    expect(await stored(b.id)).toMatchObject({ state: 'scheduled' });
    // The speakers' programmes hold its plays (two passes each); x1 plays both to the end, x2 fails the second, y1 never reports.
    await t.core.refreshDevices(Object.values(devices));
    const playsOf = async (name: string) => (await t.core.desired.refresh(devices[name]!)).state.plays.filter((p) => p.scheduleId === b.scheduleId);
    const x1 = await playsOf('x1');
    expect(x1).toHaveLength(2);
    const end = Math.max(...x1.map((p) => Date.parse(p.startAt) + p.durationMs));
    clock.advance(end - clock.now() + 1000);
    const report = (device: string, p: (typeof x1)[number], status: 'completed' | 'failed') =>
      // The real intake (checked against the plays the speaker was given, then stored); not the batcher, whose window runs on the manual clock.
      t.core.reportIntake.accept(devices[device]!, { v: 1, reportId: `${device}-${p.playId}`, playId: p.playId, scheduleId: p.scheduleId, contentId: p.contentId, status, scheduledAt: p.startAt, startedAt: p.startAt, endedAt: p.startAt, playedMs: status === 'completed' ? p.durationMs : 0, ...(status === 'failed' ? { reason: 'decode-error' } : {}) });
    for (const p of x1) await report('x1', p, 'completed');
    const x2 = await playsOf('x2');
    await report('x2', x2[0]!, 'completed');
    await report('x2', x2[1]!, 'failed');
    expect((await t.core.reports.ofSchedule(b.scheduleId!, new Date(START).toISOString(), new Date(clock.now()).toISOString())).length).toBe(4);
    // y1 may still report: not judged yet.
    await t.core.bulletinProgress.check();
    expect((await stored(b.id)).state).toBe('scheduled');
    clock.advance(REPORT_GRACE_MS);
    await t.core.bulletinProgress.check();
    expect(await stored(b.id)).toMatchObject({ state: 'played', counts: { targeted: 3, played: 1, failed: 1, noReport: 1 } });
    expect(outcomes.filter((o) => o.id === b.id).map((o) => o.state)).toEqual(['pending-approval', 'scheduled', 'played']);
    expect(outcomes.at(-1)).toMatchObject({ upstreamId: b.upstreamId, counts: { targeted: 3, played: 1 }, updatedAt: new Date(clock.now()).toISOString() });
  });

  it('goes back to waiting when an operator edits its approved schedule, and on when approved again', async () => {
    const b = (await post(adminKey, body({ areaCodes: ['00004'] }))).json() as Bulletin;
    expect(b.state).toBe('scheduled');
    const operator = await login(t.app, 'op-p');
    const edit = await t.app.inject({ method: 'PATCH', url: `/api/v1/schedules/${b.scheduleId}`, headers: { authorization: `Bearer ${operator}` }, payload: { title: 'Bản tin (sửa)' } });
    expect(edit.statusCode, edit.body).toBe(200);
    await t.core.bulletinProgress.check();
    expect(await stored(b.id)).toMatchObject({ state: 'pending-approval', reason: expect.stringContaining('waits for approval again') });
    await t.app.inject({ method: 'POST', url: `/api/v1/schedules/${b.scheduleId}/approve`, headers: { authorization: `Bearer ${adminToken}` } });
    await t.core.bulletinProgress.check();
    expect(await stored(b.id)).toMatchObject({ state: 'scheduled', reason: null });
    expect(outcomes.filter((o) => o.id === b.id).map((o) => o.state)).toEqual(['scheduled', 'pending-approval', 'scheduled']);
  });

  it('is rejected when its schedule is deleted before it played, and expires unapproved at validUntil (its schedule removed)', async () => {
    const rejected = (await post(operatorKey, body({ areaCodes: ['00004'] }))).json() as Bulletin;
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/schedules/${rejected.scheduleId}`, headers: { authorization: `Bearer ${adminToken}` } });
    expect(del.statusCode, del.body).toBe(204);
    const waiting = body({ areaCodes: ['00004'] });
    const validUntil = new Date(Date.parse(waiting.validFrom) + 2 * 3600_000).toISOString();
    const late = (await post(operatorKey, { ...waiting, validUntil })).json() as Bulletin;
    expect(late.state).toBe('pending-approval');
    await t.core.bulletinProgress.check();
    expect(await stored(rejected.id)).toMatchObject({ state: 'rejected', reason: expect.stringContaining('deleted before it played') });
    expect((await stored(late.id)).state).toBe('pending-approval');
    // The leader's own check, on the clock: past validUntil the bulletin expires.
    await clock.advanceAsync(Date.parse(validUntil) - clock.now() + BULLETIN_CHECK_MS);
    await until('the leader expires it', async () => (await stored(late.id)).state === 'expired');
    expect(await stored(late.id)).toMatchObject({ reason: expect.stringContaining('Not approved before it expired') });
    expect(await t.core.schedules.get(late.scheduleId!)).toBeNull();
    // Sent again after its validity passed: the stored (expired) bulletin, not a refusal; a new id past its validity is refused.
    const resent = await post(operatorKey, { ...waiting, validUntil });
    expect(resent.statusCode, resent.body).toBe(200);
    expect(resent.json()).toMatchObject({ id: late.id, state: 'expired' });
    const stale = await post(operatorKey, { ...waiting, id: 'htttn-stale', validUntil });
    expect(stale.statusCode).toBe(400);
    expect((stale.json() as { error: { message: string } }).error.message).toContain('validUntil has passed');
    const audit = await t.core.audit.query({ action: 'bulletin-expired', limit: 10 });
    expect(audit.find((e) => e.target === late.id)).toMatchObject({ source: 'server', detail: expect.objectContaining({ upstreamId: late.upstreamId, from: 'pending-approval' }) });
  });
});

describe('bulletin intake with a failing speech engine', () => {
  let t: TestServer;
  let tts: Server;
  beforeAll(async () => {
    tts = createServer((_req, res) => res.writeHead(500).end('engine down'));
    await new Promise<void>((resolve) => tts.listen(0, '127.0.0.1', resolve));
    t = await buildTestServer({ speech: new HttpSpeechEngine({ url: `http://127.0.0.1:${(tts.address() as AddressInfo).port}/tts` }) });
    await t.core.areas.create({ name: 'Xã', parentId: null, id: 'x', geocodes: ['00001'] });
    await addUser(t.core, 'op', 'operator', 'x');
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => tts?.close(resolve));
  });

  it('stores the bulletin failed with the reason and answers the error in both languages', async () => {
    const token = await login(t.app, 'op');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/bulletins', headers: { authorization: `Bearer ${token}` }, payload: { id: 'b-1', title: 'Tin', text: 'Xin chào bà con.', areaCodes: ['00001'], priority: 'normal' } });
    expect(res.statusCode).toBe(502);
    const err = (res.json() as { error: { code: string; messageVi: string } }).error;
    expect(err.code).toBe('LOA_ERR_TTS_SERVICE');
    const b = (await t.app.inject({ method: 'GET', url: '/api/v1/bulletins/by-upstream/b-1', headers: { authorization: `Bearer ${token}` } })).json() as Bulletin;
    expect(b).toMatchObject({ state: 'failed', contentId: null, reason: expect.stringContaining(err.messageVi) });
  });
});
