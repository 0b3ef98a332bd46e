/**
 * Issue 21 item 4, the exports people ask for: GET /reports/monthly (JSON, CSV, and the PDF
 * form, read back with Debian's pdftotext) and GET /devices/registry.csv, each cut to the
 * caller's areas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monthlyReport } from '@loalang/broker';
import { fileSlug } from '../src/routes/reports.js';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
let viewer = '';
const ids = { d1: '', d2: '', d3: '' };

/** pdftotext (poppler-utils) reads the PDF back; without it the PDF's text checks skip, saying why. */
const pdftotext = spawnSync('pdftotext', ['-v']).error === undefined;
if (!pdftotext) process.stdout.write('SKIP: pdftotext is not installed (apt-get install poppler-utils): the monthly PDF is not read back\n');

beforeAll(async () => {
  t = await buildTestServer();
  const { core } = t;
  await core.areas.create({ name: 'Huyện Đức Hòa', parentId: null, id: 'p' });
  await core.areas.create({ name: 'Xã Tân Phước', parentId: 'p', id: 'a', geocodes: ['27595'] });
  await core.areas.create({ name: 'Xã Khác', parentId: 'p', id: 'b' });
  await addUser(core, 'viewer-a', 'viewer', 'a');
  viewer = await login(t.app, 'viewer-a');
  ids.d1 = (await core.devices.create({ name: 'Loa chợ', areaId: 'a' })).device.id;
  ids.d2 = (await core.devices.create({ name: 'Loa bến đò', areaId: 'a' })).device.id;
  ids.d3 = (await core.devices.create({ name: 'Loa xã khác', areaId: 'b' })).device.id;
  await core.devices.update(ids.d1, { position: { lat: 10.88, lon: 106.42 } });
  const base = { mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 300_000, source: {}, createdBy: null, originalName: null, areaId: 'a' };
  await core.content.insert({ ...base, id: 'c1', title: 'Bản tin phòng chống dịch' });
  await core.content.insert({ ...base, id: 'c2', title: 'Thông báo thu thuế' });
  const rep = (device: string, playId: string, contentId: string, scheduledAt: string, status: 'completed' | 'failed', playedMs: number) =>
    core.reports.insert(device, { v: 1, reportId: `${device}-${playId}`, playId, scheduleId: playId.split('_')[0]!, contentId, status, scheduledAt, startedAt: scheduledAt, endedAt: scheduledAt, playedMs, ...(status === 'failed' ? { reason: 'download-failed' } : {}) });
  await rep(ids.d1, 's1_0_1', 'c1', '2026-10-31T23:30:00.000Z', 'completed', 300_000); // 1 Nov 06:30 in Vietnam
  await rep(ids.d2, 's1_0_1', 'c1', '2026-10-31T23:30:00.000Z', 'failed', 0);
  await rep(ids.d1, 's2_0_1', 'c2', '2026-11-15T10:00:00.000Z', 'completed', 125_000); // 15 Nov 17:00
  await rep(ids.d2, 's2_0_1', 'c2', '2026-11-15T10:00:00.000Z', 'completed', 125_000);
  await rep(ids.d1, 's1_0_0', 'c1', '2026-10-31T16:30:00.000Z', 'completed', 300_000); // 31 Oct 23:30: October's
  await rep(ids.d3, 's3_0_1', 'c1', '2026-11-15T10:00:00.000Z', 'completed', 300_000); // commune B: not ours
});
afterAll(async () => t?.close());

const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${viewer}` } });

describe('GET /reports/monthly', () => {
  it("answers the commune's month, in Vietnam's time, as its schema says", async () => {
    const res = await get('/api/v1/reports/monthly?month=2026-11');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    // Written through its response schema, the report loses nothing the service made.
    expect(body).toEqual(JSON.parse(JSON.stringify(await monthlyReport(t.core, 'a', '2026-11'))));
    expect(body).toMatchObject({ areaId: 'a', areaName: 'Xã Tân Phước', areaCodes: ['27595'], month: '2026-11', timeZone: 'Asia/Ho_Chi_Minh', totals: { items: 2, seconds: 425, completed: 3, notPlayed: 1 } });
    expect(body.items).toMatchObject([
      { date: '2026-11-01', time: '06:30', title: 'Bản tin phòng chống dịch', seconds: 300, completed: 1, notPlayed: 1, misses: [{ deviceId: ids.d2, deviceName: 'Loa bến đò', status: 'failed', reason: 'download-failed' }] },
      { date: '2026-11-15', time: '17:00', title: 'Thông báo thu thuế', seconds: 125, completed: 2, notPlayed: 0, misses: [] },
    ]);
    expect(body.speakers.map((s: { deviceName: string; completed: number }) => [s.deviceName, s.completed])).toEqual([
      ['Loa bến đò', 1],
      ['Loa chợ', 2],
    ]);
  });

  it('gives the items as CSV', async () => {
    const res = await get('/api/v1/reports/monthly?areaId=a&month=2026-11&format=csv');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="bao-cao-thang-2026-11-xa-tan-phuoc.csv"');
    expect(res.body.split('\r\n')).toEqual([
      'date,time,title,seconds,completed,notPlayed,notPlayedSpeakers,contentId,scheduleId,playId',
      '2026-11-01,06:30,Bản tin phòng chống dịch,300,1,1,Loa bến đò (failed),c1,s1,s1_0_1',
      '2026-11-15,17:00,Thông báo thu thuế,125,2,0,,c2,s2,s2_0_1',
      '',
    ]);
  });

  it('keeps to the caller\'s areas and wants a month', async () => {
    expect((await get('/api/v1/reports/monthly?areaId=b&month=2026-11')).statusCode).toBe(403);
    expect((await get('/api/v1/reports/monthly?areaId=p&month=2026-11')).statusCode).toBe(403);
    expect((await get('/api/v1/reports/monthly?areaId=nowhere&month=2026-11')).statusCode).toBe(404);
    expect((await get('/api/v1/reports/monthly?month=2026-13')).statusCode).toBe(400);
    expect((await get('/api/v1/reports/monthly')).statusCode).toBe(400);
    expect((await get('/api/v1/reports/monthly?month=2026-10')).json().items).toHaveLength(1);
  });

  it('renders the form as an A4 PDF with the title, the commune, the items and the totals', async () => {
    const res = await get('/api/v1/reports/monthly?month=2026-11&format=pdf');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toBe('attachment; filename="bao-cao-thang-2026-11-xa-tan-phuoc.pdf"');
    expect(res.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    if (!pdftotext) return;
    const dir = mkdtempSync(join(tmpdir(), 'loalang-pdf-'));
    try {
      const file = join(dir, 'report.pdf');
      writeFileSync(file, res.rawPayload);
      const out = spawnSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      const text = out.stdout;
      expect(text).toContain('BÁO CÁO KẾT QUẢ PHÁT THANH THÁNG 11/2026');
      expect(text).toContain('Xã Tân Phước');
      expect(text).toContain('mã đơn vị hành chính: 27595');
      expect(text).toContain('từ ngày 01/11/2026 đến ngày 30/11/2026');
      expect(text).toContain('Bản tin phòng chống dịch');
      expect(text).toContain('Thông báo thu thuế');
      expect(text).toContain('Loa bến đò');
      expect(text).toContain('Số nội dung đã phát: 2; tổng thời lượng phát sóng: 7:05.');
      expect(text).toContain('Số lượt loa phát được: 3; số lượt loa không phát được: 1.');
      expect(text).toContain('NGƯỜI LẬP BIỂU');
      expect(text).toContain('CHỦ TỊCH UBND XÃ');
      expect(text).toContain('Trang 1/1');
      const info = spawnSync('pdfinfo', [file], { encoding: 'utf8' });
      if (info.status === 0) expect(info.stdout).toMatch(/Page size:\s+595\.28 x 841\.89 pts \(A4\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GET /devices/registry.csv', () => {
  it("lists the caller's devices with their area, code, position and presence", async () => {
    const res = await get('/api/v1/devices/registry.csv');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = res.body.split('\r\n');
    expect(lines[0]).toBe('id,name,areaId,areaName,areaCode,lat,lon,online,lastSeenAt,agentVersion,agentArch,disabled,createdAt');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(`^${ids.d2},Loa bến đò,a,Xã Tân Phước,27595,,,false,,,,false,`));
    expect(lines[2]).toMatch(new RegExp(`^${ids.d1},Loa chợ,a,Xã Tân Phước,27595,10.88,106.42,false,,,,false,`));
    expect(res.body).not.toContain('Loa xã khác');
    expect((await get('/api/v1/devices/registry.csv?areaId=b')).statusCode).toBe(403);
  });
});

describe('fileSlug', () => {
  it('makes an ASCII file name of a Vietnamese area name', () => {
    expect(fileSlug('Xã Tân Phước')).toBe('xa-tan-phuoc');
    expect(fileSlug('Phường Đông Hòa (TP. Dĩ An)')).toBe('phuong-dong-hoa-tp-di-an');
    expect(fileSlug('!!!')).toBe('dia-ban');
  });
});
