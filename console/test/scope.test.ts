/**
 * Every route × every role × own area / other area. An operator of commune A must not
 * see or touch commune B; each role may do only what its grants say.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '@loalang/broker';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
const tokens = new Map<Role, string>();
const ids = { devA: '', devB: '', schedA: '', schedB: '', alarmA: '', alarmB: '', alertA: '', alertB: '' };

beforeAll(async () => {
  t = await buildTestServer();
  const { core } = t;
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  await core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
  for (const role of ROLES) {
    await addUser(core, `${role}-a`, role, 'a');
    tokens.set(role, await login(t.app, `${role}-a`));
  }
  ids.devA = (await core.devices.create({ name: 'Loa A', areaId: 'a' })).device.id;
  ids.devB = (await core.devices.create({ name: 'Loa B', areaId: 'b' })).device.id;
  ids.alarmA = (await core.alarms.raise(ids.devA, 'tamper', null, Date.now()))!.id;
  ids.alarmB = (await core.alarms.raise(ids.devB, 'tamper', null, Date.now()))!.id;
  const base = { mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 1000, source: {}, createdBy: null, originalName: null };
  await core.content.insert({ ...base, id: 'ca', title: 'A', areaId: 'a' });
  await core.content.insert({ ...base, id: 'cb', title: 'B', areaId: 'b' });
  const sched = { priority: 'normal' as const, start: new Date(Date.now() + 3600_000).toISOString(), items: [{ contentId: 'ca' }], volume: null, recurrence: null, repeat: { count: 1, gapSec: 0 }, createdBy: null, approvedBy: null };
  ids.schedA = (await core.schedules.create({ ...sched, title: 'A', areaId: 'a', targets: { areaIds: ['a'], deviceIds: [] } })).id;
  ids.schedB = (await core.schedules.create({ ...sched, title: 'B', areaId: 'b', items: [{ contentId: 'cb' }], targets: { areaIds: ['b'], deviceIds: [] } })).id;
  ids.alertA = await newAlert('a', 'ca');
  ids.alertB = await newAlert('b', 'cb');
});

async function newAlert(areaId: string, contentId: string): Promise<string> {
  const input = { title: 'Cảnh báo', text: null, contentId, priority: 'emergency' as const, repeat: 1, gapMs: 0, volume: null, expiresAt: null, replaces: null, cap: null, createdBy: null };
  return (await t.core.alerts.create({ ...input, targets: { areaIds: [areaId], deviceIds: [] } })).id;
}
afterAll(async () => t?.close());

type Case = {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: () => string | Promise<string>;
  body?: () => unknown;
  /** Roles that succeed; every other role gets 403. `none` = nobody succeeds. */
  allowed: Role[] | 'all';
};

// Each call a new slot, so the schedules these tests create never overlap one another.
let slot = 0;
const later = () => new Date(Date.now() + 7200_000 + ++slot * 600_000).toISOString();
const ALL: Role[] = [...ROLES];

const cases: Case[] = [
  { name: 'list alarms', method: 'GET', url: () => '/api/v1/alarms', allowed: 'all' },
  { name: 'list alarms of other area', method: 'GET', url: () => '/api/v1/alarms?areaId=b', allowed: [] },
  { name: 'acknowledge own alarm', method: 'POST', url: () => `/api/v1/alarms/${ids.alarmA}/ack`, allowed: ['admin', 'technician'] },
  { name: 'acknowledge other alarm', method: 'POST', url: () => `/api/v1/alarms/${ids.alarmB}/ack`, allowed: [] },
  { name: 'list alerts', method: 'GET', url: () => '/api/v1/alerts', allowed: 'all' },
  { name: 'read own alert', method: 'GET', url: () => `/api/v1/alerts/${ids.alertA}`, allowed: 'all' },
  { name: 'read other alert', method: 'GET', url: () => `/api/v1/alerts/${ids.alertB}`, allowed: [] },
  { name: 'alert own area', method: 'POST', url: () => '/api/v1/alerts', body: () => ({ contentId: 'ca', targets: { areaIds: ['a'], deviceIds: [] } }), allowed: ['admin', 'alert-staff', 'source-system'] },
  { name: 'alert other area', method: 'POST', url: () => '/api/v1/alerts', body: () => ({ contentId: 'ca', targets: { areaIds: ['b'], deviceIds: [] } }), allowed: [] },
  { name: 'alert other device', method: 'POST', url: () => '/api/v1/alerts', body: () => ({ contentId: 'ca', targets: { areaIds: [], deviceIds: [ids.devB] } }), allowed: [] },
  { name: "alert with other area's content", method: 'POST', url: () => '/api/v1/alerts', body: () => ({ contentId: 'cb', targets: { areaIds: ['a'], deviceIds: [] } }), allowed: [] },
  { name: 'cancel own alert', method: 'POST', url: async () => `/api/v1/alerts/${await newAlert('a', 'ca')}/cancel`, allowed: ['admin', 'alert-staff', 'source-system'] },
  { name: 'cancel other alert', method: 'POST', url: () => `/api/v1/alerts/${ids.alertB}/cancel`, allowed: [] },
  { name: 'list areas', method: 'GET', url: () => '/api/v1/areas', allowed: 'all' },
  { name: 'read own area', method: 'GET', url: () => '/api/v1/areas/a', allowed: 'all' },
  { name: 'read other area', method: 'GET', url: () => '/api/v1/areas/b', allowed: [] },
  { name: 'create area in own', method: 'POST', url: () => '/api/v1/areas', body: () => ({ name: 'Thôn', parentId: 'a' }), allowed: ['admin'] },
  { name: 'create area in other', method: 'POST', url: () => '/api/v1/areas', body: () => ({ name: 'Thôn', parentId: 'b' }), allowed: [] },
  { name: 'create root area', method: 'POST', url: () => '/api/v1/areas', body: () => ({ name: 'Tỉnh khác', parentId: null }), allowed: [] },
  { name: 'rename other area', method: 'PATCH', url: () => '/api/v1/areas/b', body: () => ({ name: 'x' }), allowed: [] },
  { name: 'move own top area elsewhere', method: 'PATCH', url: () => '/api/v1/areas/a', body: () => ({ parentId: 'b' }), allowed: [] },
  { name: 'make own top area a root', method: 'PATCH', url: () => '/api/v1/areas/a', body: () => ({ parentId: null }), allowed: [] },
  { name: 'delete other area', method: 'DELETE', url: () => '/api/v1/areas/b', allowed: [] },
  { name: 'list devices', method: 'GET', url: () => '/api/v1/devices', allowed: 'all' },
  { name: 'read own device', method: 'GET', url: () => `/api/v1/devices/${ids.devA}`, allowed: 'all' },
  { name: 'read other device', method: 'GET', url: () => `/api/v1/devices/${ids.devB}`, allowed: [] },
  { name: 'add device in own', method: 'POST', url: () => '/api/v1/devices', body: () => ({ name: 'Loa mới', areaId: 'a' }), allowed: ['admin', 'technician'] },
  { name: 'add device in other', method: 'POST', url: () => '/api/v1/devices', body: () => ({ name: 'Loa mới', areaId: 'b' }), allowed: [] },
  { name: 'rename other device', method: 'PATCH', url: () => `/api/v1/devices/${ids.devB}`, body: () => ({ name: 'x' }), allowed: [] },
  { name: 'move own device to other area', method: 'PATCH', url: () => `/api/v1/devices/${ids.devA}`, body: () => ({ areaId: 'b' }), allowed: [] },
  { name: 'delete other device', method: 'DELETE', url: () => `/api/v1/devices/${ids.devB}`, allowed: [] },
  { name: 'command own device', method: 'POST', url: () => `/api/v1/devices/${ids.devA}/commands`, body: () => ({ type: 'sync' }), allowed: ['admin', 'technician'] },
  { name: 'command other device', method: 'POST', url: () => `/api/v1/devices/${ids.devB}/commands`, body: () => ({ type: 'sync' }), allowed: [] },
  { name: 'list content', method: 'GET', url: () => '/api/v1/content', allowed: 'all' },
  { name: 'read own content', method: 'GET', url: () => '/api/v1/content/ca', allowed: 'all' },
  { name: 'read other content', method: 'GET', url: () => '/api/v1/content/cb', allowed: [] },
  { name: 'download other content', method: 'GET', url: () => '/api/v1/content/cb/file', allowed: [] },
  { name: 'delete other content', method: 'DELETE', url: () => '/api/v1/content/cb', allowed: [] },
  { name: 'tts into other area', method: 'POST', url: () => '/api/v1/content/tts', body: () => ({ text: 'Xin chào', areaId: 'b' }), allowed: [] },
  { name: 'list schedules', method: 'GET', url: () => '/api/v1/schedules', allowed: 'all' },
  { name: 'read other schedule', method: 'GET', url: () => `/api/v1/schedules/${ids.schedB}`, allowed: [] },
  {
    name: 'schedule own content in own area',
    method: 'POST',
    url: () => '/api/v1/schedules',
    body: () => ({ title: 'Tin', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later() }),
    allowed: ['admin', 'operator', 'source-system'],
  },
  {
    name: 'schedule into other area',
    method: 'POST',
    url: () => '/api/v1/schedules',
    body: () => ({ title: 'Tin', items: [{ contentId: 'ca' }], targets: { areaIds: ['b'], deviceIds: [] }, start: later() }),
    allowed: [],
  },
  {
    name: 'schedule other device',
    method: 'POST',
    url: () => '/api/v1/schedules',
    body: () => ({ title: 'Tin', items: [{ contentId: 'ca' }], targets: { areaIds: [], deviceIds: [ids.devB] }, start: later() }),
    allowed: [],
  },
  {
    name: "schedule other area's content",
    method: 'POST',
    url: () => '/api/v1/schedules',
    body: () => ({ title: 'Tin', items: [{ contentId: 'cb' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later() }),
    allowed: [],
  },
  { name: 'edit other schedule', method: 'PATCH', url: () => `/api/v1/schedules/${ids.schedB}`, body: () => ({ title: 'x' }), allowed: [] },
  { name: 'approve own schedule', method: 'POST', url: () => `/api/v1/schedules/${ids.schedA}/approve`, allowed: ['admin'] },
  { name: 'approve other schedule', method: 'POST', url: () => `/api/v1/schedules/${ids.schedB}/approve`, allowed: [] },
  { name: 'delete other schedule', method: 'DELETE', url: () => `/api/v1/schedules/${ids.schedB}`, allowed: [] },
  { name: 'reports of own scope', method: 'GET', url: () => '/api/v1/reports', allowed: 'all' },
  { name: 'reports of other area', method: 'GET', url: () => '/api/v1/reports?areaId=b', allowed: [] },
  { name: 'reports of other device', method: 'GET', url: () => `/api/v1/reports?deviceId=${ids.devB}`, allowed: [] },
  { name: 'list users', method: 'GET', url: () => '/api/v1/users', allowed: ['admin'] },
  { name: 'create user in own', method: 'POST', url: () => '/api/v1/users', body: () => ({ username: `u${Math.random().toString(36).slice(2, 8)}`, password: 'mat-khau-moi-1', role: 'viewer', areaId: 'a' }), allowed: ['admin'] },
  { name: 'create user in other', method: 'POST', url: () => '/api/v1/users', body: () => ({ username: 'ub', password: 'mat-khau-moi-1', role: 'admin', areaId: 'b' }), allowed: [] },
];

describe.each(cases)('$name', (c) => {
  it.each(ALL)('as %s', async (role) => {
    const res = await t.app.inject({
      method: c.method,
      url: await c.url(),
      headers: { authorization: `Bearer ${tokens.get(role)}` },
      ...(c.body ? { payload: c.body() as Record<string, unknown> } : {}),
    });
    const ok = c.allowed === 'all' || c.allowed.includes(role);
    if (ok) {
      expect(res.statusCode, res.body).toBeLessThan(300);
    } else {
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: expect.stringMatching(/^LOA_ERR_/), message: expect.any(String), messageVi: expect.any(String) } });
    }
  });

  it('without a token → 401', async () => {
    const res = await t.app.inject({ method: c.method, url: await c.url(), ...(c.body ? { payload: c.body() as Record<string, unknown> } : {}) });
    expect(res.statusCode).toBe(401);
  });
});

describe('recurring schedules through the API', () => {
  const post = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: { authorization: `Bearer ${tokens.get('operator')}` }, payload: { title: 'Tin', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later(), ...body } });

  it('accepts a weekly programme and refuses a bad recurrence with a reason', async () => {
    const ok = await post({ recurrence: { type: 'weekly', time: '17:30', days: [1, 3, 5], validTo: '2027-06-30' } });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toMatchObject({ recurrence: { type: 'weekly', days: [1, 3, 5] }, status: 'pending' });
    const badCron = await post({ recurrence: { type: 'cron', cron: '99 * * * *' } });
    expect(badCron.statusCode).toBe(400);
    expect(badCron.json()).toMatchObject({ error: { code: 'LOA_ERR_INVALID', messageVi: expect.stringContaining('cron') } });
    const badTime = await post({ recurrence: { type: 'daily', time: '6h' } });
    expect(badTime.statusCode).toBe(400);
  });
});

describe('conflicts and the timeline', () => {
  const as = (role: Role) => ({ authorization: `Bearer ${tokens.get(role)}` });
  it('refuses an overlapping schedule at the same priority with 409 naming the other, allows another priority', async () => {
    const start = later();
    const body = (title: string, priority = 'normal') => ({ title, items: [{ contentId: 'ca' }], targets: { areaIds: [], deviceIds: [ids.devA] }, start, priority });
    const first = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('admin'), payload: body('Tin trưa') });
    expect(first.statusCode, first.body).toBe(201);
    const clash = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('admin'), payload: { ...body('Tin trùng'), targets: { areaIds: ['a'], deviceIds: [] } } });
    expect(clash.statusCode).toBe(409);
    expect(clash.json()).toMatchObject({ error: { code: 'LOA_ERR_CONFLICT', message: expect.stringContaining('Tin trưa'), messageVi: expect.stringContaining('Tin trưa'), details: { scheduleId: (first.json() as { id: string }).id } } });
    const higher = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('admin'), payload: body('Thông báo gấp', 'priority') });
    expect(higher.statusCode, higher.body).toBe(201);

    const timeline = await t.app.inject({ method: 'GET', url: `/api/v1/devices/${ids.devA}/timeline?from=${encodeURIComponent(new Date(Date.parse(start) - 1000).toISOString())}&to=${encodeURIComponent(new Date(Date.parse(start) + 60_000).toISOString())}`, headers: as('viewer') });
    expect(timeline.statusCode).toBe(200);
    expect((timeline.json() as { scheduleTitle: string }[]).map((p) => p.scheduleTitle).sort()).toEqual(['Thông báo gấp', 'Tin trưa']);
    const other = await t.app.inject({ method: 'GET', url: `/api/v1/devices/${ids.devB}/timeline`, headers: as('viewer') });
    expect(other.statusCode).toBe(403);
  });
});

describe('daily report', () => {
  it('counts plays and seconds per item, local day and device or area, in JSON and CSV', async () => {
    const rep = (id: string, device: string, startedAt: string, status: 'completed' | 'interrupted', playedMs: number) =>
      t.core.reports.insert(device, { v: 1, reportId: id, playId: id, scheduleId: 's', contentId: 'ca', status, scheduledAt: startedAt, startedAt, endedAt: startedAt, playedMs });
    await rep('d1', ids.devA, '2026-11-22T23:30:00.000Z', 'completed', 60_000); // 23 Nov 06:30 in Vietnam
    await rep('d2', ids.devA, '2026-11-23T10:00:00.000Z', 'completed', 60_000); // 23 Nov 17:00
    await rep('d3', ids.devA, '2026-11-23T10:30:00.000Z', 'interrupted', 15_000);
    await rep('d4', ids.devB, '2026-11-23T10:00:00.000Z', 'completed', 60_000); // commune B: not ours
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/reports/daily?from=2026-11-22T00:00:00Z&to=2026-11-24T00:00:00Z', headers: { authorization: `Bearer ${tokens.get('viewer')}` } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ timeZone: 'Asia/Ho_Chi_Minh', rows: [{ date: '2026-11-23', contentId: 'ca', contentTitle: 'A', groupId: ids.devA, plays: 2, seconds: 135, interrupted: 1 }] });
    const byArea = await t.app.inject({ method: 'GET', url: '/api/v1/reports/daily?groupBy=area&format=csv&from=2026-11-22T00:00:00Z&to=2026-11-24T00:00:00Z', headers: { authorization: `Bearer ${tokens.get('viewer')}` } });
    expect(byArea.body.split('\r\n')[1]).toBe('2026-11-23,ca,A,a,Xã A,2,135,1,0,0');
  });
});

describe('quiet hours', () => {
  const as = (role: Role) => ({ authorization: `Bearer ${tokens.get(role)}` });
  it('refuses a normal play in the quiet hours with the reason, and lets an emergency through', async () => {
    const set = await t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as('admin'), payload: { quietHours: { from: '21:30', to: '05:30' } } });
    expect(set.statusCode, set.body).toBe(200);
    const body = (recurrence: unknown, priority = 'normal') => ({ title: 'Tin sớm', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later(), recurrence, priority });
    const early = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('operator'), payload: body({ type: 'daily', time: '05:00' }) });
    expect(early.statusCode).toBe(400);
    expect(early.json()).toMatchObject({ error: { code: 'LOA_ERR_QUIET_HOURS', message: expect.stringContaining('21:30'), messageVi: expect.stringContaining('giờ yên tĩnh') } });
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('operator'), payload: body({ type: 'daily', time: '06:00' }) });
    expect(ok.statusCode, ok.body).toBe(201);
    const emergency = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as('admin'), payload: body({ type: 'daily', time: '05:00' }, 'emergency') });
    expect(emergency.statusCode, emergency.body).toBe(201);
    const { state } = await t.core.desired.refresh(ids.devA);
    expect(state.quietHours).toEqual({ from: '21:30', to: '05:30', timeZone: 'Asia/Ho_Chi_Minh' });
    await t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as('admin'), payload: { quietHours: null } });
  });
});

describe('lists are cut to the caller scope', () => {
  it('shows commune A only to commune A users', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${tokens.get('viewer')}` } });
    const names = (res.json() as { areaId: string }[]).map((d) => d.areaId);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((a) => a === 'a')).toBe(true);
    const alarms = await t.app.inject({ method: 'GET', url: '/api/v1/alarms', headers: { authorization: `Bearer ${tokens.get('viewer')}` } });
    expect((alarms.json() as { deviceId: string }[]).map((a) => a.deviceId)).toEqual([ids.devA]);
    const areas = await t.app.inject({ method: 'GET', url: '/api/v1/areas', headers: { authorization: `Bearer ${tokens.get('operator')}` } });
    const seen = (areas.json() as { id: string }[]).map((a) => a.id);
    expect(seen).toContain('a');
    const subtree = await t.core.areas.subtreeIds('a');
    expect(seen.every((id) => subtree.has(id))).toBe(true);
  });
});
