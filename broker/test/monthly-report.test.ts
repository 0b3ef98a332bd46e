/**
 * Issue 21 item 4: the monthly broadcast report of a commune, from stored play reports, on
 * SQLite and PostgreSQL. Months are Vietnam's: a play due at 23:30 UTC on 31 October is on
 * 1 November at 06:30 there, and one due at 17:30 UTC on 30 November is on 1 December.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlayReport } from '@loalang/protocol';
import { databases } from '@loalang/test-kit';
import { openDatabasePair, type DatabasePair } from './database-pair.js';
import { AreaRepo } from '../src/areas/areas.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { ReportRepo } from '../src/reports/reports.js';
import { ContentRepo } from '../src/content/content-repo.js';
import { relayContentId } from '../src/schedules/items.js';
import { monthBounds, monthlyReport, type MonthlySources } from '../src/reports/monthly.js';

const NOW = Date.parse('2026-12-02T03:00:00.000Z');

describe('monthBounds', () => {
  it("gives Vietnam's month as UTC instants, and refuses a month that is not YYYY-MM", () => {
    const { from, to } = monthBounds('2026-11', 'Asia/Ho_Chi_Minh');
    expect(new Date(from).toISOString()).toBe('2026-10-31T17:00:00.000Z');
    expect(new Date(to).toISOString()).toBe('2026-11-30T17:00:00.000Z');
    expect(new Date(monthBounds('2026-12', 'Asia/Ho_Chi_Minh').to).toISOString()).toBe('2026-12-31T17:00:00.000Z');
    // A zone with daylight saving: Berlin's November begins at 23:00 UTC (CET), its October at 22:00 (CEST).
    expect(new Date(monthBounds('2026-11', 'Europe/Berlin').from).toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(new Date(monthBounds('2026-10', 'Europe/Berlin').from).toISOString()).toBe('2026-09-30T22:00:00.000Z');
    expect(() => monthBounds('2026-13', 'Asia/Ho_Chi_Minh')).toThrow(/YYYY-MM/);
    expect(() => monthBounds('2026-1', 'Asia/Ho_Chi_Minh')).toThrow(/YYYY-MM/);
  });
});

describe.each(databases())('monthly report on $dialect', ({ dialect, skip }) => {
  let db: DatabasePair;
  let src: MonthlySources;
  let reports: ReportRepo;
  beforeEach(async () => {
    if (skip) return;
    db = await openDatabasePair(dialect, 'monthly');
    const areas = new AreaRepo(db.a, () => NOW);
    await areas.create({ name: 'Huyện', parentId: null, id: 'h' });
    await areas.create({ name: 'Xã Tân Phước', parentId: 'h', id: 'x', geocodes: ['25747'] });
    await areas.create({ name: 'Thôn 1', parentId: 'x', id: 't1' });
    await areas.create({ name: 'Xã Khác', parentId: 'h', id: 'y' });
    const at = new Date(NOW).toISOString();
    for (const [id, name, area] of [['d1', 'Loa chợ', 'x'], ['d2', 'Loa thôn 1', 't1'], ['d3', 'Loa xã khác', 'y']] as const) {
      await db.a.insertInto('devices').values({ id, name, area_id: area, secret_hash: 'h', created_at: at }).execute();
    }
    const content = new ContentRepo(db.a, () => NOW);
    const base = { mimeType: 'audio/ogg', sha256: 'a'.repeat(64), sizeBytes: 1, durationMs: 300_000, source: {}, createdBy: null, originalName: null, areaId: 'x' };
    await content.insert({ ...base, id: 'c1', title: 'Bản tin sáng' });
    const relay = 'http://vov.example/vov1';
    src = {
      areas,
      devices: new DeviceRepo(db.a, areas, () => NOW),
      reports: (reports = new ReportRepo(db.a, () => NOW)),
      content: { list: () => content.list() },
      schedules: { list: async () => [{ items: [{ streamUrl: relay, durationSec: 1800 }] }] },
    };
  });
  afterEach(async () => {
    if (!skip) await db.close();
  });

  const rep = (device: string, playId: string, scheduledAt: string, status: PlayReport['status'], playedMs: number, contentId = 'c1', reason?: string) =>
    reports.insert(device, { v: 1, reportId: `${device}-${playId}`, playId, scheduleId: playId.split('_')[0]!, contentId, status, scheduledAt, startedAt: scheduledAt, endedAt: scheduledAt, playedMs, ...(reason ? { reason } : {}) });

  it.skipIf(skip)("lists the month's items with speakers that played and did not, and the totals, in Vietnam's month", async () => {
    // 31 Oct 23:30 UTC = 1 Nov 06:30 in Vietnam: November's first item.
    await rep('d1', 's1_0_1', '2026-10-31T23:30:00.000Z', 'completed', 300_000);
    await rep('d2', 's1_0_1', '2026-10-31T23:30:00.000Z', 'failed', 0, 'c1', 'download-failed');
    // 31 Oct 16:30 UTC = 31 Oct 23:30 in Vietnam: October's.
    await rep('d1', 's1_0_0', '2026-10-31T16:30:00.000Z', 'completed', 300_000);
    // 30 Nov 10:00 UTC = 17:00: a relay, interrupted on one speaker.
    const vov = relayContentId('http://vov.example/vov1');
    await rep('d1', 's2_0_9', '2026-11-30T10:00:00.000Z', 'completed', 1_800_000, vov);
    await rep('d2', 's2_0_9', '2026-11-30T10:00:00.000Z', 'interrupted', 600_000, vov, 'preempted');
    // 30 Nov 17:30 UTC = 1 Dec 00:30 in Vietnam: December's.
    await rep('d1', 's1_0_2', '2026-11-30T17:30:00.000Z', 'completed', 300_000);
    // Another commune's speaker: not in this report.
    await rep('d3', 's3_0_1', '2026-11-10T03:00:00.000Z', 'completed', 300_000);

    const r = await monthlyReport(src, 'x', '2026-11');
    expect(r).toMatchObject({ areaId: 'x', areaName: 'Xã Tân Phước', areaCodes: ['25747'], month: '2026-11', timeZone: 'Asia/Ho_Chi_Minh', from: '2026-10-31T17:00:00.000Z', to: '2026-11-30T17:00:00.000Z', truncated: false });
    expect(r.items).toEqual([
      { playId: 's1_0_1', scheduleId: 's1', contentId: 'c1', title: 'Bản tin sáng', date: '2026-11-01', time: '06:30', seconds: 300, completed: 1, notPlayed: 1, misses: [{ deviceId: 'd2', deviceName: 'Loa thôn 1', status: 'failed', reason: 'download-failed' }] },
      { playId: 's2_0_9', scheduleId: 's2', contentId: vov, title: 'Tiếp sóng / relay http://vov.example/vov1', date: '2026-11-30', time: '17:00', seconds: 1800, completed: 1, notPlayed: 1, misses: [{ deviceId: 'd2', deviceName: 'Loa thôn 1', status: 'interrupted', reason: 'preempted' }] },
    ]);
    expect(r.totals).toEqual({ items: 2, seconds: 2100, completed: 2, notPlayed: 2 });
    expect(r.speakers).toEqual([
      { deviceId: 'd1', deviceName: 'Loa chợ', areaId: 'x', completed: 2, notPlayed: 0, seconds: 2100 },
      { deviceId: 'd2', deviceName: 'Loa thôn 1', areaId: 't1', completed: 0, notPlayed: 2, seconds: 600 },
    ]);

    const december = await monthlyReport(src, 'x', '2026-12');
    expect(december.items.map((i) => [i.date, i.time])).toEqual([['2026-12-01', '00:30']]);
    const village = await monthlyReport(src, 't1', '2026-11');
    expect(village.speakers.map((s) => s.deviceId)).toEqual(['d2']);
    expect(village.totals).toEqual({ items: 2, seconds: 600, completed: 0, notPlayed: 2 });
  });
});
