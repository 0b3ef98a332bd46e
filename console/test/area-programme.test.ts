/**
 * The overview's "today's programme" (issue 14): areas carry the timezone their plays are
 * shown in (their own, else the nearest ancestor's, else Asia/Ho_Chi_Minh), and a play counts
 * only the speakers that existed when it started, not one added afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let auth: { authorization: string };

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  await t.core.areas.create({ name: 'Đảo', parentId: 'p', id: 'island', timezone: 'Asia/Tokyo' });
  await t.core.areas.create({ name: 'Thôn đảo', parentId: 'island', id: 'village' });
  await addUser(t.core, 'admin', 'admin', 'p');
  auth = { authorization: `Bearer ${await login(t.app, 'admin')}` };
  await t.core.devices.create({ name: 'Loa cũ', areaId: 'a' });
  await t.core.content.insert({ id: 'ca', title: 'A', areaId: 'a', mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 1000, source: {}, createdBy: null, originalName: null });
});
afterAll(async () => t?.close());

describe('area programme', () => {
  it('gives every area its effective timezone', async () => {
    const areas = (await t.app.inject({ method: 'GET', url: '/api/v1/areas', headers: auth })).json() as { id: string; timezone: string | null; effectiveTimezone: string }[];
    const tz = Object.fromEntries(areas.map((a) => [a.id, [a.timezone, a.effectiveTimezone]]));
    expect(tz).toEqual({ p: [null, 'Asia/Ho_Chi_Minh'], a: [null, 'Asia/Ho_Chi_Minh'], island: ['Asia/Tokyo', 'Asia/Tokyo'], village: [null, 'Asia/Tokyo'] });
    expect(((await t.app.inject({ method: 'GET', url: '/api/v1/areas/village', headers: auth })).json() as { effectiveTimezone: string }).effectiveTimezone).toBe('Asia/Tokyo');
  });

  it('counts for a play only the speakers there when it started', async () => {
    const schedule = (start: string, title: string) => t.app.inject({ method: 'POST', url: '/api/v1/schedules', headers: auth, payload: { title, items: [{ contentId: 'ca' }], targets: { areaIds: ['a'], deviceIds: [] }, start } });
    const soon = new Date(Date.now() + 1500).toISOString();
    const later = new Date(Date.now() + 3600_000).toISOString();
    expect((await schedule(soon, 'Vừa phát')).statusCode).toBe(201);
    expect((await schedule(later, 'Sắp phát')).statusCode).toBe(201);
    await new Promise((r) => setTimeout(r, Date.parse(soon) - Date.now() + 50));
    // A speaker added after the first play started.
    await t.core.devices.create({ name: 'Loa mới', areaId: 'a' });
    const from = new Date(Date.parse(soon) - 60_000).toISOString();
    const to = new Date(Date.parse(later) + 60_000).toISOString();
    const plays = (await t.app.inject({ method: 'GET', url: `/api/v1/areas/a/timeline?from=${from}&to=${to}`, headers: auth })).json() as { scheduleTitle: string; devices: number }[];
    expect(plays.map((p) => [p.scheduleTitle, p.devices])).toEqual([['Vừa phát', 1], ['Sắp phát', 2]]);
  });
});
