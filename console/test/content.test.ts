/** Upload validation through the real route: bad audio gets a reason in both languages and stores nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addUser, buildTestServer, login, multipartBody, type TestServer } from './helpers.js';

let t: TestServer;
let token: string;
let work: string;

async function upload(filename: string, data: Buffer, fields: Record<string, string> = {}) {
  const body = multipartBody(filename, data, fields);
  return t.app.inject({ method: 'POST', url: '/api/v1/content', payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${token}` } });
}

beforeAll(async () => {
  t = await buildTestServer({ maxUploadBytes: 2 * 1024 * 1024 });
  await t.core.areas.create({ name: 'Xã', parentId: null, id: 'x' });
  await addUser(t.core, 'op', 'operator', 'x');
  token = await login(t.app, 'op');
  work = mkdtempSync(join(tmpdir(), 'loalang-upload-'));
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

const contentFiles = () => readdirSync(join(t.dir, 'content')).filter((f) => !f.startsWith('.'));

describe('POST /content', () => {
  it('stores a real audio file with its sha256 and duration, and serves it back with Range', async () => {
    const wav = join(work, 'tone.wav');
    execFileSync(t.core.media.tools.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ar', '44100', wav]);
    const res = await upload('tone.wav', readFileSync(wav), { title: 'Chuông' });
    expect(res.statusCode, res.body).toBe(201);
    const item = res.json() as { id: string; title: string; durationMs: number; sha256: string; sizeBytes: number };
    expect(item.title).toBe('Chuông');
    expect(Math.abs(item.durationMs - 2000)).toBeLessThan(60);
    const file = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.id}/file`, headers: { authorization: `Bearer ${token}` } });
    expect(file.statusCode).toBe(200);
    expect(file.rawPayload.length).toBe(item.sizeBytes);
    const part = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.id}/file`, headers: { authorization: `Bearer ${token}`, range: 'bytes=100-' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-${item.sizeBytes - 1}/${item.sizeBytes}`);
    expect(part.rawPayload.equals(file.rawPayload.subarray(100))).toBe(true);
    const bad = await t.app.inject({ method: 'GET', url: `/api/v1/content/${item.id}/file`, headers: { authorization: `Bearer ${token}`, range: `bytes=${item.sizeBytes + 5}-` } });
    expect(bad.statusCode).toBe(416);
  });

  it('refuses a text file renamed .mp3 with 415 and both languages, storing nothing', async () => {
    const before = contentFiles().length;
    const res = await upload('tin.mp3', Buffer.from('Đây không phải là âm thanh\n'.repeat(100)));
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: { code: 'LOA_ERR_NOT_AUDIO', message: expect.any(String), messageVi: expect.any(String) } });
    expect(contentFiles().length).toBe(before);
  });

  it('refuses an upload over the size limit with 413', async () => {
    const res = await upload('big.wav', Buffer.alloc(3 * 1024 * 1024, 1));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'LOA_ERR_TOO_LARGE', messageVi: expect.any(String) } });
  });

  it('refuses a request without the file field', async () => {
    const boundary = 'xyz';
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/content',
      payload: `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--${boundary}--\r\n`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(400);
  });

  it('refuses JSON that is not multipart, and a malformed JSON body elsewhere, with a clear error', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/content', payload: { x: 1 }, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    const broken = await t.app.inject({ method: 'POST', url: '/api/v1/schedules', payload: '{"title": ', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ error: { code: 'LOA_ERR_INVALID', messageVi: expect.any(String) } });
  });
});
