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
  t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  const users: [string, Role][] = [['admin-a', 'admin'], ['admin2-a', 'admin'], ['operator-a', 'operator']];
  for (const [name, role] of users) {
    await addUser(t.core, name, role, 'a');
    tokens.set(name, await login(t.app, name));
  }
  devA = (await t.core.devices.create({ name: 'Loa A', areaId: 'a' })).device.id;
  t.core.content.insert({ id: 'ca', title: 'A', areaId: 'a', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 1000, source: {}, createdBy: null, originalName: null });
});
afterAll(async () => t?.close());

const as = (user: string) => ({ authorization: `Bearer ${tokens.get(user)}` });
const create = (user: string, extra: Record<string, unknown> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: as(user), payload: { title: 'Thông báo', items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start: later(), ...extra } });
const approve = (user: string, id: string) => t.app.inject({ method: 'POST', url: `/api/v1/schedules/${id}/approve`, headers: as(user) });
const setRule = (user: string, scheduleApproval: string | null) => t.app.inject({ method: 'PATCH', url: '/api/v1/areas/a', headers: as(user), payload: { scheduleApproval } });
const deviceHas = (scheduleId: string) => t.core.desired.refresh(devA).state.plays.some((p) => p.scheduleId === scheduleId);

describe('approval', () => {
  it('by default an operator\'s schedule waits, reaches no device, and an admin approves it; both are recorded', async () => {
    const res = await create('operator-a');
    expect(res.statusCode, res.body).toBe(201);
    const s = res.json() as { id: string; status: string; createdBy: string };
    expect(s.status).toBe('pending');
    expect(deviceHas(s.id)).toBe(false);
    const ok = await approve('admin-a', s.id);
    expect(ok.statusCode, ok.body).toBe(200);
    const byName = (name: string) => t.core.users.list().find((u) => u.username === name)!;
    const admin = byName('admin-a');
    const operator = byName('operator-a');
    expect(ok.json()).toMatchObject({ status: 'approved', createdBy: operator.id, approvedBy: admin.id, approvedAt: expect.any(String) });
    expect(deviceHas(s.id)).toBe(true);
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
    expect(deviceHas(s.id)).toBe(true);
  });

  it('"none": schedules are approved as they are saved; null goes back to the inherited default', async () => {
    await setRule('admin-a', 'none');
    expect((await create('operator-a')).json()).toMatchObject({ status: 'approved' });
    await setRule('admin-a', null);
    expect(t.core.areas.effectiveScheduleApproval('a')).toBe('operators');
    expect((await create('operator-a')).json()).toMatchObject({ status: 'pending' });
    expect((await setRule('admin-a', 'sometimes')).statusCode).toBe(400);
  });
});

describe('stream relay items', () => {
  it('puts a relay in the device programme with its window, after a content item', async () => {
    const res = await create('admin-a', { items: [{ contentId: 'ca' }, { streamUrl: 'http://radio.example.vn/vov1.mp3', durationSec: 1800 }] });
    expect(res.statusCode, res.body).toBe(201);
    const plays = t.core.desired.refresh(devA).state.plays.filter((p) => p.scheduleId === (res.json() as { id: string }).id);
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
