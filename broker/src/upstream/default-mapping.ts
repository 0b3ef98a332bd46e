/**
 * The mapping used when LOALANG_UPSTREAM_MAPPING names none: LoaLang's suggested field names
 * for an HTTTN, in Vietnamese as the ministry's documents write them. The specification a
 * province receives decides the real names; copy docs/examples/upstream-mapping.json (the same
 * mapping, kept equal by a test) and change it.
 */
import type { UpstreamMapping } from './mapping.js';

const TIME = 'pattern:dd/MM/yyyy HH:mm:ss';
const ENVELOPE = { nguon: '$source', anhXa: '$mapping', loai: '$kind', thoiGianGui: '$sentAt', lo: '$batch', soLo: '$batches', soLuong: '$count', duLieu: '$items' };

export const DEFAULT_UPSTREAM_MAPPING: UpstreamMapping = {
  format: 1,
  name: 'loalang-htttn',
  revision: '1',
  timeZone: 'Asia/Ho_Chi_Minh',
  auth: { tokenHeader: 'Authorization', tokenPrefix: 'Bearer ', signatureHeader: 'X-LoaLang-Signature' },
  records: {
    registry: {
      path: '/cum-loa',
      batchSize: 500,
      envelope: ENVELOPE,
      fields: {
        maCumLoa: 'id',
        tenCumLoa: 'name',
        maDonViHanhChinh: 'area.code',
        tenDonViHanhChinh: 'area.name',
        maDonViCapTren: 'area.parentCode',
        viDo: 'position.lat',
        kinhDo: 'position.lon',
        trangThaiKetNoi: { from: 'online', map: { true: 1, false: 0 } },
        lanCuoiKetNoi: { from: 'lastSeenAt', format: TIME },
        phienBanPhanMem: 'agentVersion',
        ngungHoatDong: { from: 'disabled', map: { true: 1, false: 0 } },
      },
    },
    programmes: {
      path: '/chuong-trinh',
      batchSize: 500,
      envelope: ENVELOPE,
      fields: {
        maChuongTrinh: 'id',
        tenChuongTrinh: 'title',
        maDonViHanhChinh: 'area.code',
        mucDoUuTien: { from: 'priority', map: { emergency: 1, priority: 2, normal: 3 } },
        thoiGianBatDau: { from: 'start', format: TIME },
        lichLapLai: { from: 'recurrence', format: 'string' },
        soLanPhat: 'repeatCount',
        noiDung: 'items',
        diaBanPhat: 'targetAreaCodes',
        thoiGianDuyet: { from: 'approvedAt', format: TIME },
      },
    },
    results: {
      path: '/ket-qua-phat',
      batchSize: 1000,
      envelope: ENVELOPE,
      fields: {
        ngayPhat: 'date',
        gioPhat: 'time',
        maChuongTrinh: 'scheduleId',
        maLuotPhat: 'playId',
        tenBanTin: 'title',
        maDonViHanhChinh: 'area.code',
        thoiLuongGiay: 'seconds',
        soCumPhatXong: 'completed',
        soCumKhongPhat: 'notPlayed',
        chiTietLoi: 'misses',
      },
    },
    alertDeliveries: {
      path: '/canh-bao',
      batchSize: 100,
      envelope: ENVELOPE,
      fields: {
        maCanhBao: 'id',
        tieuDe: 'title',
        mucDo: 'priority',
        trangThai: 'state',
        batDau: { from: 'startAt', format: TIME },
        hetHan: { from: 'expiresAt', format: TIME },
        ketThuc: { from: 'endedAt', format: TIME },
        maCap: 'capIdentifier',
        diaBan: 'targetAreaCodes',
        soCumLoa: 'speakers',
        daNhan: 'totals.received',
        dangPhat: 'totals.started',
        daPhatXong: 'totals.finished',
        loi: 'totals.failed',
        ngoaiTuyen: 'totals.offline',
      },
    },
    bulletinOutcomes: {
      path: '/ket-qua-ban-tin',
      batchSize: 1,
      envelope: ENVELOPE,
      fields: {
        maBanTin: 'upstreamId',
        maTrenHeThong: 'id',
        trangThai: 'state',
        lyDo: 'reason',
        maLichPhat: 'scheduleId',
        maCanhBao: 'alertId',
        soCumLoa: 'counts.targeted',
        soCumPhatXong: 'counts.played',
        soCumLoi: 'counts.failed',
        soCumKhongBaoCao: 'counts.noReport',
        capNhatLuc: { from: 'updatedAt', format: TIME },
      },
    },
  },
  intake: {
    bulletin: {
      fields: {
        id: 'maBanTin',
        title: 'tieuDe',
        text: 'noiDungVanBan',
        audioUrl: 'duongDanAmThanh',
        areaCodes: 'danhSachMaDonVi',
        priority: { from: 'mucDoUuTien', map: { '1': 'emergency', '2': 'priority', '3': 'normal' } },
        validFrom: { from: 'thoiGianBatDau', format: TIME },
        validUntil: { from: 'thoiGianKetThuc', format: TIME },
      },
    },
  },
};
