/** The approval gate (per-area rule) and stream relay items through the HTTP API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '@loalang/broker';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
const tokens = new Map<string, string>();
let devA = '';
let slot = 0;
const later = () => new Date(Date.now() + 7200_000 + ++slot * 600_000).toISOString();

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  const users: [string, Role][] = [['admin-a', 'admin'], ['admin2-a', 'admin'], ['operator-a', 'operator']];
  for (const [name, role] of users) {
    await addUser(t.core, name, role, 'a');
    tokens.set(name, await login(t.app, name));
  }
  devA = (await t.core.devices.create({ name: 'Loa A', areaId: 'a' })).device.id;
  await t.core.content.insert({ id: 'ca', title: 'A', areaId: 'a', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 1000, source: {}, createdBy: null, originalName: null });
});
afterAll(async () => t?.close());

const as = (user: string) => ({ authorization: `Bearer ${tokens.get(user)}` });
const create = (user: string, extra: Record<string, unknown> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as(user), payload: { title: 'Thông báo', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later(), ...extra } });
const approve = (user: string, id: string) => t.app.inject({ method: 'POST', url: `/api/v1/schedules/${id}/approve`, headers: as(user) });
const setRule = (user: string, scheduleApproval: string | null) => t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as(user), payload: { scheduleApproval } });
const deviceHas = async (scheduleId: string) => (await t.core.desired.refresh(devA)).state.plays.some((p) => p.scheduleId === scheduleId);

describe('approval', () => {
  it('by default an operator\'s schedule waits, reaches no device, and an admin approves it; both are recorded', async () => {
    const res = await create('operator-a');
    expect(res.statusCode, res.body).toBe(201);
    const s = res.json() as { id: string; status: string; createdBy: string };
    expect(s.status).toBe('pending');
    expect(await deviceHas(s.id)).toBe(false);
    const ok = await approve('admin-a', s.id);
    expect(ok.statusCode, ok.body).toBe(200);
    const byName = async (name: string) => (await t.core.users.list()).find((u) => u.username === name)!;
    const admin = await byName('admin-a');
    const operator = await byName('operator-a');
    expect(ok.json()).toMatchObject({ status: 'approved', createdBy: operator.id, approvedBy: admin.id, approvedAt: expect.any(String) });
    expect(await deviceHas(s.id)).toBe(true);
    // An operator may not approve, nor change the area's rule.
    expect((await approve('operator-a', ((await create('operator-a')).json() as { id: string }).id)).statusCode).toBe(403);
    expect((await setRule('operator-a', 'none')).statusCode).toBe(403);
  });

  it('"all": every schedule waits, and its creator cannot approve it (four eyes)', async () => {
    expect((await setRule('admin-a', 'all')).json()).toMatchObject({ scheduleApproval: 'all' });
    const s = (await create('admin-a')).json() as { id: string; status: string };
    expect(s.status).toBe('pending');
    const own = await approve('admin-a', s.id);
    expect(own.statusCode).toBe(403);
    expect(own.json()).toMatchObject({ error: { code: 'LOA_ERR_FORBIDDEN', messageVi: expect.stringContaining('người khác') } });
    expect((await approve('admin2-a', s.id)).json()).toMatchObject({ status: 'approved' });
    expect(await deviceHas(s.id)).toBe(true);
  });

  it('"none": schedules are approved as they are saved; null goes back to the inherited default', async () => {
    await setRule('admin-a', 'none');
    expect((await create('operator-a')).json()).toMatchObject({ status: 'approved' });
    await setRule('admin-a', null);
    expect(await t.core.areas.effectiveScheduleApproval('a')).toBe('operators');
    expect((await create('operator-a')).json()).toMatchObject({ status: 'pending' });
    expect((await setRule('admin-a', 'sometimes')).statusCode).toBe(400);
  });
});

describe('stream relay items', () => {
  it('puts a relay in the device programme with its window, after a content item', async () => {
    const res = await create('admin-a', { items: [{ contentId: 'ca' }, { streamUrl: 'http://radio.example.vn/vov1.mp3', durationSec: 1800 }] });
    expect(res.statusCode, res.body).toBe(201);
    const plays = (await t.core.desired.refresh(devA)).state.plays.filter((p) => p.scheduleId === (res.json() as { id: string }).id);
    expect(plays).toHaveLength(2);
    expect(plays[1]).toMatchObject({ streamUrl: 'http://radio.example.vn/vov1.mp3', url: 'http://radio.example.vn/vov1.mp3', durationMs: 1_800_000, contentId: expect.stringMatching(/^relay-[0-9a-f]{24}$/) });
    // The relay follows the 1 s item and the 1 s gap.
    expect(Date.parse(plays[1]!.startAt) - Date.parse(plays[0]!.startAt)).toBe(2000);
  });

  it('refuses a stream that is not http(s), and hosts off the allow-list when one is set', async () => {
    const ftp = await create('admin-a', { items: [{ streamUrl: 'ftp://radio.example.vn/x.mp3', durationSec: 60 }] });
    expect(ftp.statusCode).toBe(400);
    expect(ftp.json()).toMatchObject({ error: { code: 'LOA_ERR_INVALID', messageVi: expect.stringContaining('http') } });
    expect((await create('admin-a', { items: [{ streamUrl: 'not a url', durationSec: 60 }] })).statusCode).toBe(400);
    t.core.streamHosts = ['vov.vn'];
    try {
      const stranger = await create('admin-a', { items: [{ streamUrl: 'http://evil.example/x.mp3', durationSec: 60 }] });
      expect(stranger.statusCode).toBe(403);
      expect(stranger.json()).toMatchObject({ error: { messageVi: expect.stringContaining('evil.example') } });
      expect((await create('admin-a', { items: [{ streamUrl: 'https://VOV.vn/live/vov1.m3u8', durationSec: 60 }] })).statusCode).toBe(201);
    } finally {
      t.core.streamHosts = null;
    }
  });
});

describe('named stream sources', () => {
  it('are saved by operators of the area, checked against the allowed hosts, listed and deleted', async () => {
    const post = (user: string, body: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/streams', headers: as(user), payload: body });
    const made = await post('operator-a', { name: 'VOV1', url: 'https://vov.vn/live/vov1.m3u8' });
    expect(made.statusCode, made.body).toBe(201);
    expect(made.json()).toMatchObject({ name: 'VOV1', url: 'https://vov.vn/live/vov1.m3u8', areaId: 'a' });
    expect((await post('operator-a', { name: 'FTP', url: 'ftp://vov.vn/x.mp3' })).statusCode).toBe(400);
    expect((await post('operator-a', { name: 'Tỉnh', url: 'https://x.vn/a.mp3', areaId: 'p' })).statusCode).toBe(403);
    t.core.streamHosts = ['vov.vn'];
    try {
      const off = await post('operator-a', { name: 'Lạ', url: 'http://evil.example/x.mp3' });
      expect(off.statusCode).toBe(403);
      expect(off.json()).toMatchObject({ error: { messageVi: expect.stringContaining('evil.example') } });
      const list = (await t.app.inject({ method: 'GET', url: '/api/v1/streams', headers: as('operator-a') })).json() as { allowedHosts: string[]; sources: { id: string; name: string }[] };
      expect(list.allowedHosts).toEqual(['vov.vn']);
      expect(list.sources.map((s) => s.name)).toEqual(['VOV1']);
      const id = list.sources[0]!.id;
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/streams/${id}`, headers: as('operator-a') })).statusCode).toBe(204);
      expect(((await t.app.inject({ method: 'GET', url: '/api/v1/streams', headers: as('operator-a') })).json() as { sources: unknown[] }).sources).toEqual([]);
    } finally {
      t.core.streamHosts = null;
    }
  });
});

describe('dry run and area programme', () => {
  const check = (user: string, body: Record<string, unknown>, query = '') =>
    t.app.inject({ method: 'POST', url: `/api/v1/schedules/check${query}`, headers: as(user), payload: { title: 'Thử', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, ...body } });

  it('tells, before saving, how many speakers and plays, whether approval is needed, and the conflict it would meet; saves nothing', async () => {
    const start = later();
    const before = (await t.core.schedules.list()).length;
    const clean = await check('operator-a', { start, recurrence: null });
    expect(clean.statusCode, clean.body).toBe(200);
    expect(clean.json()).toMatchObject({ devices: 1, plays: 1, firstPlayAt: start, approval: 'needed', problems: [] });
    const saved = (await create('admin-a', { start })).json() as { id: string };
    const clash = (await check('operator-a', { start })).json() as { problems: { code: string; messageVi: string; details: { scheduleId: string } }[] };
    expect(clash.problems).toHaveLength(1);
    expect(clash.problems[0]).toMatchObject({ code: 'LOA_ERR_CONFLICT', messageVi: expect.stringContaining('trùng với lịch'), details: { scheduleId: saved.id } });
    // Checking an edit of the saved schedule itself is no conflict.
    expect(((await check('admin-a', { start }, `?scheduleId=${saved.id}`)).json() as { problems: unknown[]; approval: string })).toMatchObject({ problems: [], approval: 'on-save' });
    // A daily recurrence: 14 plays in the next 14 days.
    expect(((await check('operator-a', { start, recurrence: { type: 'daily', time: '05:30' } })).json() as { plays: number }).plays).toBeGreaterThanOrEqual(13);
    // Malformed input is still a 400, in both languages.
    const bad = await check('operator-a', { start, recurrence: { type: 'cron', cron: 'every morning' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { messageVi: expect.stringContaining('cron') } });
    expect((await t.core.schedules.list()).length).toBe(before + 1);
  });

  it('warns about quiet hours', async () => {
    await t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as('admin-a'), payload: { quietHours: { from: '22:00', to: '05:00' } } });
    try {
      const r = (await check('operator-a', { start: later(), recurrence: { type: 'daily', time: '23:15' } })).json() as { problems: { code: string; messageVi: string }[] };
      expect(r.problems.map((p) => p.code)).toEqual(['LOA_ERR_QUIET_HOURS']);
    } finally {
      await t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as('admin-a'), payload: { quietHours: null } });
    }
  });

  it('lists the area\'s programme with the speakers each play reaches', async () => {
    const start = later();
    const s = (await create('admin-a', { title: 'Chương trình tỉnh', start })).json() as { id: string };
    const from = new Date(Date.parse(start) - 60_000).toISOString();
    const to = new Date(Date.parse(start) + 60_000).toISOString();
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/areas/a/timeline?from=${from}&to=${to}`, headers: as('operator-a') });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual([expect.objectContaining({ scheduleId: s.id, scheduleTitle: 'Chương trình tỉnh', scheduleStatus: 'approved', priority: 'normal', devices: 1, startAt: start })]);
    // The province above is not the commune admin's to see; a window backwards is refused.
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/areas/p/timeline?from=${from}&to=${to}`, headers: as('admin-a') })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/areas/a/timeline?from=${to}&to=${from}`, headers: as('admin-a') })).statusCode).toBe(400);
  });
});
