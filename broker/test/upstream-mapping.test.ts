/**
 * The upstream mapping (issue 21, item 3): LoaLang's records written in an HTTTN's field names
 * (paths, constants, value maps, defaults, formats, nested names), in batches inside the
 * envelope; an upstream's bulletin read back into ours; a bad mapping refused saying where.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DEFAULT_UPSTREAM_MAPPING } from '../src/upstream/default-mapping.js';
import { formatInstant, mapRecord, parseInstant, parseMapping, readRecord, requestBodies, type UpstreamMapping } from '../src/upstream/mapping.js';

const TZ = 'Asia/Ho_Chi_Minh';

describe('upstream mapping', () => {
  it('writes and reads local times with a pattern, in Vietnam\'s time', () => {
    expect(formatInstant('2026-11-30T01:02:03Z', 'dd/MM/yyyy HH:mm:ss', TZ)).toBe('30/11/2026 08:02:03');
    expect(formatInstant('2026-11-30T20:00:00Z', 'yyyy-MM-dd', TZ)).toBe('2026-12-01');
    expect(parseInstant('30/11/2026 08:02:03', 'dd/MM/yyyy HH:mm:ss', TZ)).toBe(Date.parse('2026-11-30T01:02:03Z'));
    expect(parseInstant('01/12/2026 00:00:00', 'dd/MM/yyyy HH:mm:ss', TZ)).toBe(Date.parse('2026-11-30T17:00:00Z'));
    expect(parseInstant('30-11-2026', 'dd/MM/yyyy HH:mm:ss', TZ)).toBeNull();
    expect(formatInstant('not a time', 'yyyy', TZ)).toBeNull();
  });

  it('maps a record: paths, nested names, constants, value maps, defaults and formats', () => {
    const record = { id: 'd1', online: true, area: { code: '19495' }, position: null, lastSeenAt: '2026-11-30T01:00:00Z', n: '42', tags: ['a'] };
    expect(
      mapRecord(
        record,
        {
          ma: 'id',
          'viTri.ma': 'area.code',
          'viTri.kinhDo': 'position.lon',
          loai: { const: 'loa-ip' },
          trangThai: { from: 'online', map: { true: 'HOAT_DONG', false: 'MAT_KET_NOI' } },
          thieu: { from: 'missing', default: 'không rõ' },
          luc: { from: 'lastSeenAt', format: 'epoch-seconds' },
          lucVn: { from: 'lastSeenAt', format: 'pattern:HH:mm dd/MM/yyyy' },
          so: { from: 'n', format: 'number' },
          nhan: { from: 'tags', format: 'string' },
        },
        TZ,
      ),
    ).toEqual({
      ma: 'd1',
      viTri: { ma: '19495', kinhDo: null },
      loai: 'loa-ip',
      trangThai: 'HOAT_DONG',
      thieu: 'không rõ',
      luc: Date.parse('2026-11-30T01:00:00Z') / 1000,
      lucVn: '08:00 30/11/2026',
      so: 42,
      nhan: '["a"]',
    });
  });

  it('sends records in batches inside the envelope, each batch numbered', () => {
    const mapping: UpstreamMapping = {
      format: 1,
      name: 'test',
      revision: '7',
      records: { registry: { path: '/r', batchSize: 2, envelope: { meta: { from: '$source', v: '$mapping', at: '$sentAt', part: '$batch', of: '$batches', n: '$count' }, rows: '$items', fixed: [1, '$kind'] }, fields: { ma: 'id' } } },
    };
    const bodies = requestBodies(mapping, 'registry', [{ id: 'a' }, { id: 'b' }, { id: 'c' }], { sentAt: '2026-11-30T01:00:00.000Z', source: 'node-1' }).map((b) => JSON.parse(b) as unknown);
    expect(bodies).toEqual([
      { meta: { from: 'node-1', v: 'test@7', at: '2026-11-30T01:00:00.000Z', part: 1, of: 2, n: 2 }, rows: [{ ma: 'a' }, { ma: 'b' }], fixed: [1, 'registry'] },
      { meta: { from: 'node-1', v: 'test@7', at: '2026-11-30T01:00:00.000Z', part: 2, of: 2, n: 1 }, rows: [{ ma: 'c' }], fixed: [1, 'registry'] },
    ]);
    // An empty snapshot is still one request: the upstream learns there is nothing.
    expect(requestBodies(mapping, 'registry', [], { sentAt: 'x', source: 'y' })).toHaveLength(1);
    // A kind the mapping leaves out is not sent.
    expect(requestBodies(mapping, 'results', [{ id: 'a' }], { sentAt: 'x', source: 'y' })).toEqual([]);
  });

  it('reads an upstream bulletin into ours with the default mapping', () => {
    const fields = DEFAULT_UPSTREAM_MAPPING.intake!.bulletin.fields;
    expect(
      readRecord({ maBanTin: 'HT-2026-0042', tieuDe: 'Phòng chống bão số 13', noiDungVanBan: 'Bà con chú ý…', danhSachMaDonVi: ['19495'], mucDoUuTien: 1, thoiGianBatDau: '30/11/2026 17:00:00', thoiGianKetThuc: '30/11/2026 21:00:00' }, fields, TZ),
    ).toEqual({
      id: 'HT-2026-0042',
      title: 'Phòng chống bão số 13',
      text: 'Bà con chú ý…',
      areaCodes: ['19495'],
      priority: 'emergency',
      validFrom: '2026-11-30T10:00:00.000Z',
      validUntil: '2026-11-30T14:00:00.000Z',
    });
  });

  it('refuses a bad mapping, saying where, in both languages', () => {
    expect(() => parseMapping({ ...DEFAULT_UPSTREAM_MAPPING, format: 2 }, 'm.json')).toThrow(/m\.json: không hợp lệ \/ invalid: \/format/);
    expect(() => parseMapping({ ...DEFAULT_UPSTREAM_MAPPING, records: { registry: { path: 'no-slash', envelope: {}, fields: {} } } })).toThrow(/\/records\/registry\/path/);
    expect(() => parseMapping({ ...DEFAULT_UPSTREAM_MAPPING, records: { registry: { path: '/r', envelope: {}, fields: { t: { from: 'x', format: 'pattern:HH:mm' } } } } })).toThrow(/records\.registry\.fields\.t: .*yyyy/);
    expect(() => parseMapping({ ...DEFAULT_UPSTREAM_MAPPING, extra: 1 })).toThrow(/invalid/);
  });

  it('ships the default mapping as docs/examples/upstream-mapping.json, valid and equal', () => {
    const file = JSON.parse(readFileSync(new URL('../../docs/examples/upstream-mapping.json', import.meta.url), 'utf8')) as unknown;
    expect(parseMapping(file)).toEqual(DEFAULT_UPSTREAM_MAPPING);
  });
});
