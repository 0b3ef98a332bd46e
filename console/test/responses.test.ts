/**
 * Every answer of the API is declared (issue 15: one source of API types): each route has a
 * response schema in OpenAPI, and what Fastify writes through those schemas is exactly what
 * the handlers returned: no field dropped because a schema forgot it, no null written as "" or
 * 0 because a schema did not say nullable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey, type Telemetry } from '@loalang/protocol';
import { DEFAULT_UPSTREAM_MAPPING } from '@loalang/broker';
import { packRelease } from '../../cli/src/release/pack.js';
import { addUser, buildTestServer, login, multipartBody, type TestServer } from './helpers.js';

type Operation = { responses?: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }> };
type Spec = { paths: Record<string, Record<string, Operation>> };

/** `METHOD path: why` for every operation whose answers the OpenAPI document does not describe. */
function undescribedAnswers(spec: Spec): string[] {
  const problems: string[] = [];
  for (const [path, operations] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const name = `${method.toUpperCase()} ${path}`;
      const responses = Object.entries(op.responses ?? {});
      const success = responses.filter(([code]) => code.startsWith('2'));
      if (success.length === 0) problems.push(`${name}: no 2xx answer declared`);
      for (const [code, answer] of success) {
        if (code === '204') continue;
        const media = Object.entries(answer.content ?? {});
        if (media.length === 0) problems.push(`${name}: ${code} has no response schema`);
        for (const [type, m] of media) if (!m.schema || Object.keys(m.schema).length === 0) problems.push(`${name}: ${code} ${type} has an empty schema`);
      }
      const error = op.responses?.['4XX']?.content?.['application/json']?.schema?.['properties'] as Record<string, unknown> | undefined;
      if (!error?.['error']) problems.push(`${name}: no 4XX error shape`);
    }
  }
  return problems;
}

let t: TestServer;
let token = '';
/** The last JSON payload a handler handed to Fastify, as JSON.stringify writes it, and its route. */
let handed: { route: string; json: string } | undefined;
const walked = new Set<string>();

const releaseKey = newSigningKey();
let releaseBundle: Buffer;

beforeAll(async () => {
  // An agent release to upload and roll out (issue 20), signed by the key the server is given.
  const work = mkdtempSync(join(tmpdir(), 'loalang-responses-'));
  await packRelease({ root: fileURLToPath(new URL('../..', import.meta.url)), version: '2.0.0', arch: process.arch as 'x64', privateKeyPem: releaseKey.privateKeyPem, out: join(work, 'agent.tar.gz') });
  releaseBundle = readFileSync(join(work, 'agent.tar.gz'));
  rmSync(work, { recursive: true, force: true });
  t = await buildTestServer({
    releaseKeys: [{ kid: releaseKey.kid, publicKey: releaseKey.publicKey }],
    // An HTTTN that is never there: its messages wait in the outbox, as the log shows them.
    upstream: { url: 'http://127.0.0.1:1/htttn', mapping: DEFAULT_UPSTREAM_MAPPING, token: 'test-token', everyMs: 3600_000 },
  });
  t.app.addHook('preSerialization', async (request, _reply, payload) => {
    handed = { route: `${request.method} ${request.routeOptions.url}`, json: JSON.stringify(payload) };
    return payload;
  });
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã', parentId: 'p', id: 'x', quietHours: { from: '22:00', to: '05:00' }, geocodes: ['19495'] });
  await addUser(t.core, 'admin', 'admin', 'p');
  token = await login(t.app, 'admin');
});
afterAll(async () => t?.close());

/**
 * Calls the API and checks that the answer is what the handler returned, field for field.
 * Returns the parsed answer.
 */
async function same<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, status = 200, headers: Record<string, string> = {}): Promise<T> {
  handed = undefined;
  const res = await t.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as string }) });
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(status);
  if (status === 204) {
    expect(res.body).toBe('');
    return undefined as T;
  }
  expect(handed, `${method} ${url} went through the serialiser`).toBeDefined();
  walked.add(handed!.route);
  const answer = res.json() as T;
  expect(answer, `${method} ${url}: the answer differs from what the handler returned`).toEqual(JSON.parse(handed!.json));
  return answer;
}

const telemetry = (at: string): Telemetry => ({
  v: 1,
  at,
  agentVersion: '0.1.0',
  uptimeSec: 60,
  desiredVersion: 2,
  playing: null,
  outboxPending: 0,
  clockOffsetMs: -1.5,
  cpuLoad1: 0.25,
  cpuTemperatureC: 51.5,
  serial: { framesSent: 1, framesReceived: 1, crcErrors: 0, timeouts: 0, retries: 0, reconnects: 0 },
  network: { type: 'lte', signalPercent: 70 },
  amp: { power: false, faults: ['over-temperature'], linkOk: true, temperatureC: 40 },
});

describe('response schemas', () => {
  it('every operation in the OpenAPI document declares its answers and the error shape', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json() as Spec;
    expect(Object.keys(spec.paths).length).toBeGreaterThan(40);
    expect(undescribedAnswers(spec)).toEqual([]);
    // Routes that can answer CSV describe their JSON too.
    for (const path of ['/api/v1/reports', '/api/v1/reports/daily']) {
      expect(Object.keys(spec.paths[path]!['get']!.responses!['200']!.content!)).toEqual(['application/json', 'text/csv']);
    }
  });

  it('the check finds a route without a response schema', async () => {
    const app = Fastify();
    await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } });
    app.get('/described', { schema: { response: { 200: { type: 'object', properties: { a: { type: 'string' } } }, '4xx': { type: 'object', properties: { error: { type: 'object' } } } } } }, async () => ({ a: 'b' }));
    app.get('/undescribed', async () => ({ a: 'b' }));
    await app.ready();
    expect(undescribedAnswers(app.swagger() as unknown as Spec)).toEqual(['GET /undescribed: 200 has no response schema', 'GET /undescribed: no 4XX error shape']);
    await app.close();
  });

  it('serialises every JSON answer to exactly what its handler returned', async () => {
    const { core } = t;
    const now = new Date().toISOString();
    // Accounts
    await same('GET', '/api/v1/auth/me');
    const user = await same<{ id: string }>('POST', '/api/v1/users', { username: 'op', password: 'mat-khau-dai-du', role: 'operator', areaId: 'x' }, 201);
    await same('GET', '/api/v1/users');
    await same('GET', `/api/v1/users/${user.id}`);
    await same('PATCH', `/api/v1/users/${user.id}`, { disabled: true });
    await same('DELETE', `/api/v1/users/${user.id}`, undefined, 204);
    handed = undefined;
    const loginRes = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'mat-khau-thu-nghiem' } });
    expect(loginRes.json()).toEqual(JSON.parse(handed!.json));
    walked.add(handed!.route);
    // Areas
    const area = await same<{ id: string }>('POST', '/api/v1/areas', { name: 'Thôn', parentId: 'x', timezone: 'Asia/Bangkok', scheduleApproval: 'none' }, 201);
    await same('GET', '/api/v1/areas');
    await same('GET', '/api/v1/areas/x');
    await same('PATCH', `/api/v1/areas/${area.id}`, { name: 'Thôn 1' });
    await same('DELETE', `/api/v1/areas/${area.id}`, undefined, 204);
    // Devices: one with health, position, presence, conditions and an alarm; one never seen.
    const device = await same<{ id: string }>('POST', '/api/v1/devices', { name: 'Loa chợ', areaId: 'x' }, 201);
    await same('POST', '/api/v1/devices', { name: 'Loa mới', areaId: 'x' }, 201);
    await core.devices.setPresence(device.id, true, 'connect', Date.now());
    await core.devices.recordTelemetry(device.id, telemetry(now));
    await core.telemetry.record(device.id, telemetry(now), Date.now());
    await core.events.insert(device.id, { v: 1, eventId: 'e1', at: now, kind: 'amp-fault', code: 'over-temperature', active: true, detail: 'board says 81 °C' });
    await core.events.insert(device.id, { v: 1, eventId: 'e2', at: now, kind: 'amp-link', active: false });
    const alarm = (await core.alarms.raise(device.id, 'over-temperature', '81 °C', Date.now()))!;
    await same('PATCH', `/api/v1/devices/${device.id}`, { position: { lat: 16.75, lon: 107.2 } });
    await same('GET', '/api/v1/devices');
    await same('GET', `/api/v1/devices/${device.id}`);
    await same('POST', `/api/v1/devices/${device.id}/rotate-secret`);
    await same('GET', `/api/v1/devices/${device.id}/telemetry`);
    await same('GET', `/api/v1/devices/${device.id}/telemetry?resolution=hourly`);
    await same('GET', `/api/v1/devices/${device.id}/events`);
    const command = await same<{ id: string }>('POST', `/api/v1/devices/${device.id}/commands`, { type: 'volume', level: 40 }, 202);
    await core.commands.complete(device.id, { v: 1, commandId: command.id, ok: false, at: now, error: { code: 'AMP', message: 'no amplifier' } });
    await same('POST', `/api/v1/devices/${device.id}/commands`, { type: 'test-tone' }, 202);
    await same('GET', `/api/v1/devices/${device.id}/commands`);
    await same('GET', `/api/v1/devices/${device.id}/commands/${command.id}`);
    await same('GET', '/api/v1/alarms');
    await same('POST', `/api/v1/alarms/${alarm.id}/ack`);
    // Content (rows only: no media tools here) and live sources
    await core.content.insert({ id: 'c', title: 'Bản tin', areaId: 'p', originalName: 'ban-tin.mp3', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1000, durationMs: 60_000, source: { codec: 'mp3', loudness: { inputI: -20.5 } }, createdBy: null });
    await core.content.insert({ id: 'old', title: 'Cũ', areaId: 'x', originalName: null, mimeType: 'audio/ogg', sha256: 'b'.repeat(64), sizeBytes: 10, durationMs: 1000, source: {}, createdBy: null });
    await same('GET', '/api/v1/content');
    await same('GET', '/api/v1/content/c');
    await same('DELETE', '/api/v1/content/old', undefined, 204);
    const stream = await same<{ id: string }>('POST', '/api/v1/streams', { name: 'VOV1', url: 'https://stream.example.vn/vov1', areaId: 'x' }, 201);
    await same('GET', '/api/v1/streams');
    await same('DELETE', `/api/v1/streams/${stream.id}`, undefined, 204);
    // Schedules and programmes
    // The next 09:00 in Vietnam (02:00 UTC) at least an hour away: never inside the area's quiet hours (22:00–05:00), whenever the suite runs.
    const nine = new Date();
    nine.setUTCHours(2, 0, 0, 0);
    while (nine.getTime() < Date.now() + 3600_000) nine.setUTCDate(nine.getUTCDate() + 1);
    const start = nine.toISOString();
    const schedule = {
      title: 'Bản tin sáng',
      items: [{ contentId: 'c' }, { streamUrl: 'https://stream.example.vn/vov1', durationSec: 600 }],
      targets: { areaIds: ['x'], deviceIds: [] },
      start,
      recurrence: { type: 'weekly', time: '06:00', days: [1, 3, 5], skipDates: ['2099-01-01'] },
      repeat: { count: 2, gapSec: 5 },
      volume: 80,
    };
    await same('POST', '/api/v1/schedules/check', schedule);
    const made = await same<{ id: string }>('POST', '/api/v1/schedules', schedule, 201);
    await same('POST', '/api/v1/schedules', { ...schedule, title: 'Một lần', recurrence: null, priority: 'priority', items: [{ contentId: 'c' }] }, 201);
    await same('GET', '/api/v1/schedules');
    await same('GET', `/api/v1/schedules/${made.id}`);
    await same('PATCH', `/api/v1/schedules/${made.id}`, { title: 'Bản tin sáng (mới)' });
    await same('POST', `/api/v1/schedules/${made.id}/approve`);
    await same('GET', `/api/v1/devices/${device.id}/timeline?to=${encodeURIComponent(new Date(Date.now() + 8 * 24 * 3600_000).toISOString())}`);
    await same('GET', `/api/v1/areas/x/timeline?to=${encodeURIComponent(new Date(Date.now() + 8 * 24 * 3600_000).toISOString())}`);
    await same('DELETE', `/api/v1/schedules/${made.id}`, undefined, 204);
    // Reports
    await core.reports.insert(device.id, { v: 1, reportId: 'r1', playId: 'p1', scheduleId: 's', contentId: 'c', status: 'completed', scheduledAt: now, startedAt: now, endedAt: now, playedMs: 60_000 });
    await core.reports.insert(device.id, { v: 1, reportId: 'r2', playId: 'p2', scheduleId: 's', contentId: 'c', status: 'failed', reason: 'no audio', scheduledAt: now, playedMs: 0, ampError: 'link lost' });
    await same('GET', '/api/v1/reports');
    await same('GET', '/api/v1/reports/daily?groupBy=area');
    await same('GET', '/api/v1/reports/daily');
    await same('GET', `/api/v1/reports/monthly?month=${now.slice(0, 7)}`);
    // Alerts
    const alert = await same<{ id: string }>('POST', '/api/v1/alerts', { contentId: 'c', targets: { areaIds: ['x'], deviceIds: [] }, volume: 90 }, 201);
    await same('GET', '/api/v1/alerts');
    await same('GET', `/api/v1/alerts/${alert.id}`);
    await same('POST', `/api/v1/alerts/${alert.id}/cancel`);
    core.capSenders = ['canh-bao@example.vn'];
    const exercise = readFileSync(new URL('../../tests/fixtures/cap/flood-exercise.xml', import.meta.url), 'utf8').replaceAll('{{SENDER}}', 'canh-bao@example.vn').replaceAll('{{SENT}}', '2026-07-01T08:00:00+07:00');
    await same('POST', '/api/v1/alerts/cap', exercise, 202, { 'content-type': 'application/cap+xml' });
    // Live announcements: one prepared, then running (opened as its feed socket would), then ended.
    // An emergency: the area's quiet hours (22:00–05:00 in Vietnam) refuse any other at night, and the suite runs at any hour.
    const live = await same<{ session: { id: string }; ticket: string }>('POST', '/api/v1/live', { areaIds: ['x'], title: 'Họp thôn', volume: 80, priority: 'emergency' }, 201);
    await same('GET', `/api/v1/live/${live.session.id}`);
    await core.liveDesk.open(live.session.id, live.ticket);
    core.liveDesk.feed(live.session.id, 0, Buffer.from([0xf8, 0xff, 0xfe]));
    core.liveDesk.onStatus(device.id, { v: 1, sessionId: live.session.id, state: 'playing', at: now, lateFrames: 0 });
    await same('GET', `/api/v1/live/${live.session.id}`);
    await same('POST', `/api/v1/live/${live.session.id}/end`);
    await same('GET', '/api/v1/live');
    // The server
    await same('GET', '/api/v1/settings');
    await same('GET', '/api/v1/signing-keys');
    const next = await same<{ kid: string }>('POST', '/api/v1/signing-keys', undefined, 201);
    await same('POST', `/api/v1/signing-keys/${next.kid}/activate`);
    const spare = await same<{ kid: string }>('POST', '/api/v1/signing-keys', undefined, 201);
    await same('POST', `/api/v1/signing-keys/${spare.kid}/retire`);
    // Fleet updates: a release uploaded, rolled out, watched, paused, resumed, cancelled.
    const upload = multipartBody('agent.tar.gz', releaseBundle);
    const release = await same<{ id: string }>('POST', '/api/v1/releases', upload.payload, 201, upload.headers);
    await same('GET', '/api/v1/releases');
    const rollout = await same<{ id: string }>('POST', '/api/v1/rollouts', { releaseId: release.id, targets: { areaIds: ['x'], deviceIds: [] } }, 201);
    await same('GET', '/api/v1/rollouts');
    await same('GET', `/api/v1/rollouts/${rollout.id}`);
    await same('POST', `/api/v1/rollouts/${rollout.id}/pause`);
    await same('POST', `/api/v1/rollouts/${rollout.id}/resume`);
    await same('POST', `/api/v1/rollouts/${rollout.id}/cancel`);
    await same('GET', `/api/v1/devices/${device.id}/update`);
    // Service accounts (issue 21): the key answers once; then the account as lists show it.
    const sa = await same<{ account: { id: string } }>('POST', '/api/v1/service-accounts', { name: 'dashboard', role: 'viewer', areaId: 'x' }, 201);
    await same('POST', '/api/v1/api-keys', { name: 'htttn', role: 'alert-staff', areaId: 'p', expiresInDays: 30 }, 201);
    await same('GET', '/api/v1/service-accounts');
    await same('GET', `/api/v1/service-accounts/${sa.account.id}`);
    await same('PATCH', `/api/v1/service-accounts/${sa.account.id}`, { description: 'Bảng theo dõi', rateLimitPerMinute: 120 });
    await same('POST', `/api/v1/service-accounts/${sa.account.id}/rotate`, {});
    await same('POST', `/api/v1/service-accounts/${sa.account.id}/revoke`);
    // Webhooks (issue 21): the secret answers once; the delivery log; a failed delivery sent again.
    const hook = await same<{ webhook: { id: string } }>('POST', '/api/v1/webhooks', { name: 'HTTTN', url: 'http://127.0.0.1:9/hook', events: ['play.reported'], areaId: 'x' }, 201);
    await same('GET', '/api/v1/webhooks');
    await same('GET', `/api/v1/webhooks/${hook.webhook.id}`);
    await same('PATCH', `/api/v1/webhooks/${hook.webhook.id}`, { description: 'Hệ thống tỉnh' });
    await same('POST', `/api/v1/webhooks/${hook.webhook.id}/rotate-secret`);
    const ping = await same<{ id: string }>('POST', `/api/v1/webhooks/${hook.webhook.id}/ping`, undefined, 202);
    await core.outbox.markAttemptFailed(ping.id, { status: 503, error: 'HTTP 503' }, Date.now(), null);
    await same('GET', `/api/v1/webhooks/${hook.webhook.id}/deliveries`);
    await same('POST', `/api/v1/webhooks/deliveries/${ping.id}/retry`, undefined, 202);
    await same('DELETE', `/api/v1/webhooks/${hook.webhook.id}`, undefined, 204);
    // The upstream connector (issue 21): its state, a push, its delivery log.
    await same('POST', '/api/v1/upstream/push', { kinds: ['registry', 'programmes'] });
    await same('GET', '/api/v1/upstream');
    const [sent] = await same<{ id: string }[]>('GET', '/api/v1/upstream/messages?limit=10');
    await same('GET', `/api/v1/upstream/messages/${sent!.id}`);
    await same('POST', `/api/v1/upstream/messages/${sent!.id}/retry`);
    // Bulletins (issue 21): one whose audio host is not allowed is stored failed (making one needs the media tools).
    await core.areas.update('x', { geocodes: ['00001'] });
    await same('POST', '/api/v1/bulletins', { id: 'htttn-1', title: 'Tin', audioUrl: 'http://audio.example.vn/a.mp3', areaCodes: ['00001', '99999'], priority: 'normal' }, 400);
    const bulletins = await same<{ id: string }[]>('GET', '/api/v1/bulletins');
    await same('GET', `/api/v1/bulletins/${bulletins[0]!.id}`);
    await same('GET', '/api/v1/bulletins/by-upstream/htttn-1');
    // The same through the HTTTN's field names (the default mapping): an audio host not allowed, refused the same way.
    await same('POST', '/api/v1/upstream/bulletins', { maBanTin: 'htttn-2', tieuDe: 'Tin', duongDanAmThanh: 'http://audio.example.vn/a.mp3', danhSachMaDonVi: ['00001'], mucDoUuTien: 3 }, 400);
    await same('GET', '/api/v1/audit');
    await same('GET', '/healthz');
    // Errors take the one error shape, details included.
    const busy = await same<{ error: { details?: { scheduleId?: string } } }>('DELETE', '/api/v1/content/c', undefined, 409);
    expect(busy.error.details?.scheduleId).toBeDefined();
    await same('GET', '/api/v1/users/nobody', undefined, 404);

    // Every JSON answer the API declares was walked, but the two that need the media tools.
    const spec = (await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json() as Spec;
    const json = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => Object.entries(op.responses ?? {}).some(([code, r]) => code.startsWith('2') && r.content?.['application/json']))
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const needMediaTools = ['POST /api/v1/content', 'POST /api/v1/content/tts', 'POST /api/v1/bulletins', 'POST /api/v1/upstream/bulletins'];
    expect(json.filter((r) => !walked.has(r) && !needMediaTools.includes(r))).toEqual([]);
  });
});
