/**
 * Speech made for alerts is not library content (issue 14): it is kept as kind `alert`, left
 * out of the library list unless asked for, and the same text spoken again for an alert
 * reuses the item instead of adding a copy. Uploads are `upload`, bulletins `tts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let auth: { authorization: string };
const TEXT = 'Nước sông đang lên nhanh. Bà con di chuyển lên vùng cao.';

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Xã', parentId: null, id: 'x' });
  await t.core.devices.create({ name: 'Loa', areaId: 'x' });
  await addUser(t.core, 'staff', 'alert-staff', 'x');
  auth = { authorization: `Bearer ${await login(t.app, 'staff')}` };
});
afterAll(async () => t?.close());

type Item = { id: string; title: string; kind: string };
const library = async (query = '') => (await t.app.inject({ method: 'GET', url: `/api/v1/content${query}`, headers: auth })).json() as Item[];
const alert = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/alerts', headers: auth, payload: { targets: { areaIds: ['x'], deviceIds: [] }, ...payload } });
const speak = (payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/v1/content/tts', headers: auth, payload });

describe('alert speech', () => {
  it('is kept out of the library list, and the same text reuses one item', async () => {
    const first = await alert({ title: 'Lũ', text: TEXT });
    expect(first.statusCode, first.body).toBe(201);
    const second = await alert({ title: 'Lũ (nhắc lại)', text: TEXT });
    expect(second.statusCode, second.body).toBe(201);
    // The composer's "listen first" asks for alert speech of the same text: the same item again.
    const heard = await speak({ text: TEXT, kind: 'alert' });
    expect(heard.statusCode, heard.body).toBe(201);
    expect(await library()).toEqual([]);
    const alerts = await library('?kind=alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'alert', id: (heard.json() as Item).id });
    const ids: string[] = [];
    for (const r of [first, second]) ids.push((await t.core.alerts.repo.require((r.json() as { id: string }).id)).contentId);
    expect(ids).toEqual([alerts[0]!.id, alerts[0]!.id]);
    // Other words are new speech.
    expect((await alert({ text: 'Bão đã tan.' })).statusCode).toBe(201);
    expect(await library('?kind=alert')).toHaveLength(2);
  });

  it('tells uploads, bulletins and alert speech apart; the library shows the first two', async () => {
    const bulletin = await speak({ title: 'Bản tin', text: 'Chiều nay họp thôn.' });
    expect(bulletin.statusCode, bulletin.body).toBe(201);
    expect((bulletin.json() as Item).kind).toBe('tts');
    const wav = join(t.dir, 'tone.wav');
    execFileSync(t.core.media.tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', wav]);
    const boundary = '----loalang-kind';
    const payload = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nChuông\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="tone.wav"\r\nContent-Type: audio/wav\r\n\r\n`), readFileSync(wav), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const upload = await t.app.inject({ method: 'POST', url: '/api/v1/content', headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
    expect(upload.statusCode, upload.body).toBe(201);
    expect((upload.json() as Item).kind).toBe('upload');
    expect((await library()).map((c) => [c.title, c.kind]).sort()).toEqual([['Bản tin', 'tts'], ['Chuông', 'upload']]);
    expect(await library('?kind=upload&kind=tts&kind=alert')).toHaveLength(4);
    // A bulletin of the same words is a new item each time (its title is the operator's).
    expect((await speak({ title: 'Bản tin 2', text: 'Chiều nay họp thôn.' })).statusCode).toBe(201);
    expect(await library('?kind=tts')).toHaveLength(2);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/content?kind=other', headers: auth })).statusCode).toBe(400);
  });
});
