/**
 * Schedules that cannot play as written are refused with a clear reason in both languages, and
 * the dry run says so before saving (issue 14: `* * * * * *` was accepted with 201 and silenced
 * a speaker). A programme that existed before these checks is cut to fit the speaker, with an alarm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '@loalang/protocol';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let token = '';
let devA = '';

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a', scheduleApproval: 'none' });
  await addUser(t.core, 'admin-a', 'admin', 'a');
  token = await login(t.app, 'admin-a');
  devA = (await t.core.devices.create({ name: 'Loa chợ', areaId: 'a' })).device.id;
  await t.core.content.insert({ id: 'short', title: 'Chuông', areaId: 'a', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 10_000, source: {}, createdBy: null, originalName: null });
  await t.core.content.insert({ id: 'long', title: 'Chương trình', areaId: 'a', mimeType: 'audio/ogg', sha256: 'b'.repeat(64), sizeBytes: 1, durationMs: 600_000, source: {}, createdBy: null, originalName: null });
});
afterAll(async () => t?.close());

const auth = () => ({ authorization: `Bearer ${token}` });
const tomorrow = () => new Date(Date.now() + 24 * 3600_000).toISOString();
const body = (recurrence: Record<string, unknown> | null, extra: Record<string, unknown> = {}) => ({
  title: 'Lịch thử',
  items: [{ contentId: 'short' }],
  targets: { areaIds: ['a'], deviceIds: [] },
  start: tomorrow(),
  ...(recurrence ? { recurrence } : {}),
  ...extra,
});
const post = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: auth(), payload });
const check = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/schedules/check', headers: auth(), payload });
type ApiError = { error: { code: string; message: string; messageVi: string; details?: { problem?: string } } };
type Check = { plays: number; problems: { code: string; message: string; messageVi: string; details?: { problem?: string } }[] };

describe('a schedule that cannot play as written', () => {
  it('a cron with a seconds field is refused in both languages', async () => {
    const res = await post(body({ type: 'cron', cron: '* * * * * *' }));
    expect(res.statusCode).toBe(400);
    const { error } = res.json() as ApiError;
    expect(error.message).toContain('5 fields');
    expect(error.messageVi).toContain('5 trường');
    expect((await check(body({ type: 'cron', cron: '* * * * * *' }))).statusCode).toBe(400);
  });

  it.each([
    ['a play every minute', { type: 'cron', cron: '* * * * *' }, {}, 'too-many-plays', 'at most 500 a day', 'tối đa 500 lượt'],
    ['runs that overlap each other', { type: 'cron', cron: '*/5 * * * *' }, { items: [{ contentId: 'long' }] }, 'overlapping-runs', 'they would overlap', 'chồng lên nhau'],
    ['a cron that never fires', { type: 'cron', cron: '0 6 31 2 *' }, {}, 'never-plays', 'nothing would ever play', 'không bao giờ phát'],
    ['valid dates that exclude every run', { type: 'daily', time: '06:00', validFrom: '2030-01-01', validTo: '2029-01-01' }, {}, null, 'validFrom is after validTo', 'ngày bắt đầu sau ngày kết thúc'],
    ['a last date before the start', { type: 'daily', time: '06:00', validTo: '2020-01-01' }, {}, 'ends-before-start', 'before its start', 'trước ngày bắt đầu'],
  ])('%s is refused, and the dry run names the problem first', async (_name, recurrence, extra, problem, en, vi) => {
    const before = (await t.core.schedules.list()).length;
    const res = await post(body(recurrence, extra));
    expect(res.statusCode, res.body).toBe(400);
    const { error } = res.json() as ApiError;
    expect(error.message).toContain(en);
    expect(error.messageVi).toContain(vi);
    if (problem) {
      expect(error).toMatchObject({ code: 'LOA_ERR_SCHEDULE_PLAN', details: { problem } });
      const dry = await check(body(recurrence, extra));
      expect(dry.statusCode, dry.body).toBe(200);
      expect((dry.json() as Check).problems[0]).toMatchObject({ code: 'LOA_ERR_SCHEDULE_PLAN', details: { problem }, messageVi: expect.stringContaining(vi) });
    }
    expect(await t.core.schedules.list()).toHaveLength(before);
  });

  it('counts the speaker\'s other schedules: two of 300 plays a day are too many together', async () => {
    // Every five minutes from 00:00 to 23:55 is 288 plays a day; a second such schedule makes 576 on the same speaker.
    const first = await post(body({ type: 'cron', cron: '*/5 * * * *' }));
    expect(first.statusCode, first.body).toBe(201);
    const second = await post(body({ type: 'cron', cron: '2-59/5 * * * *' }));
    expect(second.statusCode).toBe(400);
    expect((second.json() as ApiError).error).toMatchObject({ code: 'LOA_ERR_SCHEDULE_PLAN', details: { problem: 'too-many-plays' }, messageVi: expect.stringContaining('Loa chợ') });
    await t.app.inject({ method: 'DELETE', url: `/api/v1/schedules/${(first.json() as { id: string }).id}`, headers: auth() });
  });

  it('a daily bulletin and an hourly time signal are fine', async () => {
    expect((await post(body({ type: 'daily', time: '06:00' }))).statusCode).toBe(201);
    expect((await post(body({ type: 'cron', cron: '30 * * * *' }))).statusCode).toBe(201);
  });
});

describe('a runaway programme saved before these checks', () => {
  it('is cut to fit the speaker, keeps its other bulletins whole, and raises an alarm', async () => {
    const admin = (await t.core.users.list()).find((u) => u.username === 'admin-a')!;
    const base = { areaId: 'a', priority: 'normal' as const, targets: { areaIds: ['a'], deviceIds: [] }, volume: null, repeat: { count: 1, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id };
    // Straight into the repository, as an older server would have stored it.
    const runaway = await t.core.schedules.create({ ...base, title: 'Chạy loạn'.repeat(20), start: new Date().toISOString(), items: [{ contentId: 'short' }], recurrence: { type: 'cron', cron: '* * * * * *' } });
    const bulletin = await t.core.schedules.create({ ...base, title: 'Bản tin chiều', start: new Date(Date.now() + 3 * 3600_000).toISOString(), items: [{ contentId: 'short' }], recurrence: null });
    await t.core.refreshDevices([devA]);
    const { state, cut } = await t.core.desired.refresh(devA);
    expect(state.plays.some((p) => p.scheduleId === bulletin.id)).toBe(true);
    expect(cut).toEqual([expect.objectContaining({ scheduleId: runaway.id, dropped: expect.any(Number) })]);
    expect(Buffer.byteLength(JSON.stringify(state))).toBeLessThan(MAX_PAYLOAD_BYTES - 32 * 1024);
    const alarm = (await t.core.alarms.query({ deviceIds: new Set([devA]), active: true, kind: 'programme' }))[0];
    expect(alarm?.detail).toContain('cut to fit');
    await t.core.schedules.delete(runaway.id);
  });
});
