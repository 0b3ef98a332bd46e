/** The alerts API's own checks: what it refuses, in both languages, and what it stores. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let token: string;

beforeAll(async () => {
  t = await buildTestServer();
  const { core } = t;
  await core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã có loa', parentId: 'p', id: 'a' });
  await core.areas.create({ name: 'Xã chưa có loa', parentId: 'p', id: 'empty' });
  await core.devices.create({ name: 'Loa', areaId: 'a' });
  await core.content.insert({ id: 'c', title: 'Cảnh báo', areaId: 'p', originalName: null, mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 5000, source: {}, createdBy: null });
  await addUser(core, 'staff', 'alert-staff', 'p');
  token = await login(t.app, 'staff');
});
afterAll(async () => t?.close());

const post = (payload: Record<string, unknown>, url = '/api/v1/alerts', headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, ...headers }, payload });
const targets = { areaIds: ['a'], deviceIds: [] };

describe('POST /alerts', () => {
  it.each([
    ['neither text nor content', { targets }, 'text'],
    ['both text and content', { text: 'Lũ', contentId: 'c', targets }, 'text'],
    ['an expiry in the past', { contentId: 'c', targets, expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
    ['eleven repetitions', { contentId: 'c', targets, repeat: 11 }, 'repeat'],
    ['an unknown field', { contentId: 'c', targets, siren: true }, 'additional'],
    ['targets without a speaker', { contentId: 'c', targets: { areaIds: ['empty'], deviceIds: [] } }, 'no enabled device'],
  ])('refuses %s with 400 in both languages', async (_name, body, word) => {
    const res = await post(body);
    expect(res.statusCode, res.body).toBe(400);
    const { error } = res.json() as { error: { code: string; message: string; messageVi: string } };
    expect(error.code).toBe('LOA_ERR_INVALID');
    expect(error.message).toContain(word);
    expect(error.messageVi.length).toBeGreaterThan(5);
  });

  it('refuses an unknown area or content with 404', async () => {
    expect((await post({ contentId: 'c', targets: { areaIds: ['nowhere'], deviceIds: [] } })).statusCode).toBe(404);
    expect((await post({ contentId: 'nothing', targets })).statusCode).toBe(404);
  });

  it('stores the alert with an offline delivery per device, and lists it with totals', async () => {
    const res = await post({ contentId: 'c', targets, repeat: 2, gapSec: 5, volume: 95 });
    expect(res.statusCode, res.body).toBe(201);
    const alert = res.json() as { id: string; state: string; repeat: number; gapMs: number; volume: number; expiresAt: string; startAt: string; totals: Record<string, number>; deliveries?: { state: string }[] };
    expect(alert).toMatchObject({ state: 'active', repeat: 2, gapMs: 5000, volume: 95 });
    expect(alert.totals['offline']).toBe(1);
    const full = (await t.app.inject({ method: 'GET', url: `/api/v1/alerts/${alert.id}`, headers: { authorization: `Bearer ${token}` } })).json() as typeof alert;
    expect(full.deliveries).toEqual([expect.objectContaining({ state: 'offline' })]);
    expect(Date.parse(alert.expiresAt) - Date.parse(alert.startAt)).toBeGreaterThan(3500_000);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/alerts', headers: { authorization: `Bearer ${token}` } });
    expect((list.json() as { id: string }[]).map((a) => a.id)).toContain(alert.id);
  });

  it('an alert valid until 2099 stays active (its expiry timer does not overflow)', async () => {
    const res = await post({ contentId: 'c', targets, expiresAt: '2099-12-31T00:00:00Z' });
    expect(res.statusCode, res.body).toBe(201);
    const { id } = res.json() as { id: string };
    await new Promise((r) => setTimeout(r, 200));
    const alert = (await t.app.inject({ method: 'GET', url: `/api/v1/alerts/${id}`, headers: { authorization: `Bearer ${token}` } })).json() as { state: string; deliveries: { state: string }[] };
    expect(alert.state).toBe('active');
    expect(alert.deliveries.map((d) => d.state)).toEqual(['offline']);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/alerts/${id}/cancel`, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });

  it('an update replaces the alert it names', async () => {
    const first = (await post({ contentId: 'c', targets })).json() as { id: string };
    const second = (await post({ contentId: 'c', targets, replaces: first.id })).json() as { id: string; replaces: string };
    expect(second.replaces).toBe(first.id);
    const old = (await t.app.inject({ method: 'GET', url: `/api/v1/alerts/${first.id}`, headers: { authorization: `Bearer ${token}` } })).json() as { state: string; replacedBy: string; deliveries: { state: string }[] };
    expect(old).toMatchObject({ state: 'replaced', replacedBy: second.id });
    expect(old.deliveries.every((d) => d.state === 'cancelled')).toBe(true);
  });
});

describe('POST /alerts/cap', () => {
  it('wants XML, and refuses every sender while none is allowed', async () => {
    const json = await post({ xml: '<alert/>' }, '/api/v1/alerts/cap');
    expect(json.statusCode).toBe(400);
    const xml = `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>1</identifier><sender>a@b</sender><sent>2026-11-23T08:00:00+07:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope></alert>`;
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/alerts/cap', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cap+xml' }, payload: xml });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { message: expect.stringContaining('LOALANG_CAP_SENDERS') } });
  });
});
