/**
 * Validation errors read as sentences in both languages, naming the field (issue 14: the
 * Vietnamese message was half English, and a `__proto__` key answered "Body is not valid JSON").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let token = '';
beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await addUser(t.core, 'admin', 'admin', 'p');
  token = await login(t.app, 'admin');
});
afterAll(async () => t?.close());

type ApiError = { error: { code: string; message: string; messageVi: string } };
const schedule = (over: Record<string, unknown>) => ({ title: 'Bản tin', items: [{ contentId: 'c' }], targets: { areaIds: ['p'], deviceIds: [] }, start: new Date(Date.now() + 3600_000).toISOString(), ...over });
const send = async (payload: string | Record<string, unknown>, url = '/api/v1/schedules') => {
  const res = await t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
  expect(res.statusCode, res.body).toBe(400);
  return (res.json() as ApiError).error;
};
/** English words AJV would have put in the Vietnamese text. */
const NOT_VIETNAMESE = /\b(must|match|pattern|property|required|should|body\/)\b/;

describe('validation errors', () => {
  it.each([
    ['a time that is not HH:MM', schedule({ recurrence: { type: 'daily', time: '6h' } }), 'trường "time" (giờ phát)', 'HH:MM', 'body.recurrence.time'],
    ['a missing title', { ...schedule({}), title: undefined }, 'trường "title" (tiêu đề) là bắt buộc', '', 'body.title is required'],
    ['a volume over 100', schedule({ volume: 150 }), 'trường "volume" (âm lượng)', 'không quá 100', 'at most 100'],
    ['a start that is not an instant', schedule({ start: 'sáng mai' }), 'trường "start" (thời điểm bắt đầu)', 'ISO 8601', 'ISO 8601'],
    ['an unknown field', schedule({ loudness: 3 }), 'trường "loudness"', 'không phải là trường', 'additional'],
    ['a priority that is none of the three', schedule({ priority: 'urgent' }), 'trường "priority" (mức ưu tiên)', 'một trong "normal", "priority", "emergency"', 'one of "normal", "priority", "emergency"'],
    ['a weekday past Sunday, in the branch the caller meant', schedule({ recurrence: { type: 'weekly', time: '06:00', days: [9] } }), 'trường "days" (các ngày trong tuần)', 'không quá 7', 'body.recurrence.days.0 must be at most 7'],
    ['a bad item, by its place', schedule({ items: [{ contentId: 'c' }, { streamUrl: 'ftp://x', durationSec: 0 }] }), 'ở mục thứ 2', '', 'body.items.1'],
  ])('%s names the field in Vietnamese and English', async (_name, body, vi1, vi2, en) => {
    const error = await send(body);
    expect(error.code).toBe('LOA_ERR_INVALID');
    expect(error.messageVi).toContain(vi1);
    expect(error.messageVi).toContain(vi2);
    expect(error.messageVi).not.toMatch(NOT_VIETNAMESE);
    expect(error.message).toContain(en);
  });

  it.each([
    ['{"username":"a","password":"b","__proto__":{"isAdmin":true}}', '__proto__'],
    ['{"username":"a","password":"b","constructor":{"prototype":{"isAdmin":true}}}', 'constructor'],
  ])('a prototype-poisoning key is refused by name: %s', async (body, key) => {
    const error = await send(body, '/api/v1/auth/login');
    expect(error.message).toContain(`forbidden key "${key}"`);
    expect(error.messageVi).toContain(`khóa bị cấm "${key}"`);
  });

  it('broken JSON says where, an empty body says so', async () => {
    const broken = await send('{"title": "Bản tin",', '/api/v1/auth/login');
    expect(broken.message).toContain('not valid JSON');
    expect(broken.messageVi).toMatch(/không phải JSON hợp lệ \(lỗi cú pháp ở ký tự thứ \d+\)/);
    const empty = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect((empty.json() as ApiError).error.messageVi).toContain('trống');
  });

  it('a body with "constructor" as an ordinary key is still taken', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":"constructor","password":"mat-khau-sai"}' });
    expect(res.statusCode).toBe(401);
  });
});
