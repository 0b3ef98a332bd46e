/** GET /devices: area subtree, presence and alarm filters, name search, paging with a total. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let token = '';

beforeAll(async () => {
  t = await buildTestServer();
  const { core } = t;
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Huyện', parentId: 'p', id: 'h' });
  await core.areas.create({ name: 'Xã A', parentId: 'h', id: 'a' });
  await core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
  for (let i = 0; i < 25; i++) {
    const { device } = await core.devices.create({ name: `Loa ${String(i).padStart(2, '0')}${i === 7 ? ' 100%_chợ' : ''}`, areaId: i < 15 ? 'a' : 'b' });
    if (i % 2 === 0) await core.devices.setPresence(device.id, true, 'connect', Date.now());
    if (i % 5 === 0) await core.alarms.raise(device.id, 'tamper', null, Date.now());
  }
  await addUser(core, 'kt', 'technician', 'p');
  token = await login(t.app, 'kt');
});
afterAll(async () => t?.close());

const list = async (query: string) => {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/devices${query}`, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, total: Number(res.headers['x-total-count']), names: res.statusCode === 200 ? (res.json() as { name: string; activeAlarms: number }[]).map((d) => d.name) : [], body: res.json() as unknown };
};

describe('device list', () => {
  it('filters by area subtree, presence and alarms, and pages with a total', async () => {
    expect((await list('')).total).toBe(25);
    const district = await list('?areaId=h');
    expect(district.total).toBe(15);
    expect((await list('?areaId=a&status=online')).total).toBe(8); // 0, 2, …, 14
    expect((await list('?areaId=a&status=offline')).total).toBe(7);
    const alarmed = await list('?alarm=true');
    expect(alarmed.names).toEqual(['Loa 00', 'Loa 05', 'Loa 10', 'Loa 15', 'Loa 20']);
    expect((await list('?alarm=false')).total).toBe(20);
    const page2 = await list('?areaId=h&limit=5&offset=5');
    expect(page2.total).toBe(15);
    expect(page2.names).toEqual(['Loa 05', 'Loa 06', 'Loa 07 100%_chợ', 'Loa 08', 'Loa 09']);
    // A page past the end is empty and still says how many there are.
    const past = await list('?areaId=h&limit=5&offset=40');
    expect(past).toMatchObject({ status: 200, total: 15, names: [] });
    const lastAlarmed = await list('?alarm=true&limit=2&offset=4');
    expect(lastAlarmed).toMatchObject({ total: 5, names: ['Loa 20'] });
    expect((lastAlarmed.body as { activeAlarms: number }[])[0]?.activeAlarms).toBe(1);
  });

  it('lists a whole tree without an area condition, and never shows another province\'s devices', async () => {
    const all = async (auth: string) => (await t.app.inject({ method: 'GET', url: '/api/v1/devices?limit=1000', headers: { authorization: `Bearer ${auth}` } })).json() as { areaId: string }[];
    expect(await all(token)).toHaveLength(25);
    // A second province of 60 communes (more than the 50 that make a scope "large"), one speaker in one.
    await t.core.areas.create({ name: 'Tỉnh 2', parentId: null, id: 'q' });
    for (let i = 0; i < 60; i++) await t.core.areas.create({ name: `Xã ${i}`, parentId: 'q', id: `q${i}` });
    await t.core.devices.create({ name: 'Loa tỉnh 2', areaId: 'q7' });
    await addUser(t.core, 'kt2', 'technician', 'q');
    expect((await all(await login(t.app, 'kt2'))).map((d) => d.areaId)).toEqual(['q7']);
    expect(await all(token)).toHaveLength(25); // the first province's technician still sees only its own
  });

  it('searches names literally, never as SQL or a pattern', async () => {
    expect((await list(`?q=${encodeURIComponent('100%_')}`)).names).toEqual(['Loa 07 100%_chợ']);
    expect((await list(`?q=${encodeURIComponent('%')}`)).names).toEqual(['Loa 07 100%_chợ']);
    expect((await list(`?q=${encodeURIComponent("' OR 1=1 --")}`)).total).toBe(0);
    expect((await list('?status=busy')).status).toBe(400);
  });
});
