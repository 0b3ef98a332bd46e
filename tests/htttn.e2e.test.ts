/**
 * Issue 21, "show it": LoaLang against a test double of the province's HTTTN, over real HTTP,
 * with a real server and agents that play and report. The double receives the registry of
 * speaker clusters and the day's broadcast results in its own field names (the default
 * mapping), signed and with its token; then it goes down while more is reported, comes back
 * answering one request only after "losing" the answer, and in the end holds everything once,
 * in the order it was written: nothing lost, nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_UPSTREAM_MAPPING, formatInstant } from '@loalang/broker';
import { requireTool } from './support.js';
import { startAgent, startAlertWorld, TimedSink, toneContent, until, type AlertWorld, type RunningAgent } from './alert-support.js';
import { HtttnDouble } from './htttn-double.js';

const ready = requireTool('ffmpeg') && requireTool('espeak-ng');
const vnTime = (at: number) => formatInstant(at, 'dd/MM/yyyy HH:mm:ss', 'Asia/Ho_Chi_Minh');
const today = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date());

interface Status {
  enabled: boolean;
  counts: { pending?: number; delivered?: number; failed?: number };
  lastError: string | null;
  oldestPendingAt: string | null;
}
interface Message {
  id: string;
  kind: string;
  state: string;
  attempts: number;
}

describe.runIf(ready)('the upstream connector against an HTTTN double', () => {
  const htttn = new HtttnDouble('htttn-token-0123456789', 'htttn-hmac-secret-0123456789');
  let world: AlertWorld;
  let admin: string;
  let agents: RunningAgent[];

  beforeAll(async () => {
    await htttn.up();
    world = await startAlertWorld({
      upstream: { url: htttn.url, mapping: DEFAULT_UPSTREAM_MAPPING, token: htttn.token, hmacSecret: htttn.secret, everyMs: 3600_000 },
      // Short waits between attempts, so the double's outage is crossed in seconds.
      outbox: { baseMs: 300, maxMs: 1000, pollMs: 200 },
      // A bulletin due now starts 4 s later (a minute in service): time enough to approve it here.
      bulletinStartLeadMs: 4000,
    });
    await world.addUser('tinh', 'admin', world.provinceId);
    admin = await world.token('tinh');
    agents = [
      await startAgent(world, 'hai-an-1', world.communeId, { sink: new TimedSink(1500), position: { lat: 16.81, lon: 107.1 } }),
      await startAgent(world, 'hai-an-2', world.communeId, { sink: new TimedSink(1500) }),
      await startAgent(world, 'trieu-phong', world.otherCommuneId, { sink: new TimedSink(1500) }),
    ];
    await until('online', () => agents.every((a) => world.server.core.mqtt.isOnline(a.id)));
    // Their first telemetry (the agent's version) is part of the registry: a change if it came later.
    await until('first telemetry', async () => (await world.server.core.devices.list({})).every((d) => d.agentVersion !== null), { timeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    for (const a of agents ?? []) await a.agent.stop();
    await world?.close();
    await htttn.down();
  });

  const status = async () => (await world.api<Status>(admin, 'GET', '/upstream')).body;
  const push = async (body: unknown) => {
    const res = await world.api<{ outcomes: { kind: string; scope: string; records: number; queued: number }[] }>(admin, 'POST', '/upstream/push', body);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.outcomes;
  };

  it('sends the registry in the HTTTN\'s field names, with its token and signature, and nothing again while nothing changed', async () => {
    const [outcome] = await push({ kinds: ['registry'] });
    expect(outcome).toMatchObject({ kind: 'registry', records: 3, queued: 1 });
    await until('registry received', () => htttn.at('/cum-loa').length === 1);
    const { body } = htttn.at('/cum-loa')[0]!;
    expect(body).toMatchObject({ anhXa: 'loalang-htttn@1', loai: 'registry', lo: 1, soLo: 1, soLuong: 3 });
    const rows = body['duLieu'] as Record<string, unknown>[];
    const first = rows.find((r) => r['tenCumLoa'] === 'hai-an-1')!;
    expect(first).toMatchObject({ phienBanPhanMem: expect.stringMatching(/^\d+\.\d+\.\d+/), maCumLoa: agents[0]!.id, maDonViHanhChinh: '19495', tenDonViHanhChinh: 'Xã Hải An', maDonViCapTren: '45', viDo: 16.81, kinhDo: 107.1, trangThaiKetNoi: 1, ngungHoatDong: 0 });
    expect(String(first['lanCuoiKetNoi'])).toMatch(/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(rows.find((r) => r['tenCumLoa'] === 'trieu-phong')).toMatchObject({ maDonViHanhChinh: '19366' });
    expect(htttn.refused).toBe(0);

    const [again] = await push({ kinds: ['registry'] });
    expect(again).toMatchObject({ records: 3, queued: 0 });
  });

  it('sends the day\'s results per item: what played where, and on how many speakers', async () => {
    const contentId = await toneContent(world, 1, 'Bản tin sáng');
    const res = await world.api<{ id: string }>(admin, 'POST', '/schedules', {
      title: 'Bản tin sáng',
      items: [{ contentId }],
      targets: { areaIds: [world.communeId], deviceIds: [] },
      areaId: world.communeId,
      start: new Date(Date.now() + 3000).toISOString(),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const reported = async () => (await world.server.core.reports.query({ limit: 10 })).filter((r) => r.scheduleId === res.body.id).length;
    await until('both commune speakers reported', async () => (await reported()) === 2, { timeoutMs: 30_000 });
    const outcomes = await push({ kinds: ['results'], days: [today()] });
    expect(outcomes).toEqual([{ kind: 'results', scope: today(), records: 1, queued: 1 }]);
    await until('results received', () => htttn.at('/ket-qua-phat').length === 1);
    const [item] = htttn.at('/ket-qua-phat')[0]!.body['duLieu'] as Record<string, unknown>[];
    expect(item).toMatchObject({ ngayPhat: today(), maChuongTrinh: res.body.id, tenBanTin: 'Bản tin sáng', maDonViHanhChinh: '19495', soCumPhatXong: 2, soCumKhongPhat: 0 });
    expect(item!['thoiLuongGiay']).toBeGreaterThanOrEqual(1);

    // The programme it came from, approved, in the programmes sent.
    await push({ kinds: ['programmes'] });
    await until('programmes received', () => htttn.at('/chuong-trinh').length === 1);
    const programmes = htttn.at('/chuong-trinh')[0]!.body['duLieu'] as Record<string, unknown>[];
    expect(programmes).toEqual([expect.objectContaining({ maChuongTrinh: res.body.id, tenChuongTrinh: 'Bản tin sáng', maDonViHanhChinh: '19495', mucDoUuTien: 3, diaBanPhat: ['19495'], soLanPhat: 1 })]);
  }, 60_000);

  it('sends an alert\'s deliveries: who received it and who played it to the end', async () => {
    const contentId = await toneContent(world, 1, 'Cảnh báo lũ');
    const alert = await world.api<{ id: string }>(admin, 'POST', '/alerts', { contentId, targets: { areaIds: [world.otherCommuneId], deviceIds: [] } });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    await until('the alert played', async () => (await world.server.core.alerts.repo.totals(alert.body.id)).finished === 1, { timeoutMs: 30_000 });
    const outcomes = await push({ kinds: ['alertDeliveries'] });
    expect(outcomes).toEqual([{ kind: 'alertDeliveries', scope: alert.body.id, records: 1, queued: 1 }]);
    await until('alert deliveries received', () => htttn.at('/canh-bao').length === 1);
    const [sent] = htttn.at('/canh-bao')[0]!.body['duLieu'] as Record<string, unknown>[];
    expect(sent).toMatchObject({ maCanhBao: alert.body.id, diaBan: ['19366'], soCumLoa: 1, daPhatXong: 1, loi: 0 });
  }, 60_000);

  it('takes a bulletin in the HTTTN\'s own field names, once, and reports its states back to it', async () => {
    const sa = await world.api<{ key: string }>(admin, 'POST', '/service-accounts', { name: 'htttn-tinh', role: 'operator', areaId: world.provinceId });
    expect(sa.status).toBe(201);
    const send = (body: unknown) =>
      fetch(`http://127.0.0.1:${world.server.httpPort}/api/v1/upstream/bulletins`, { method: 'POST', headers: { 'x-api-key': sa.body.key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bulletin = {
      maBanTin: 'HT-2026-0042',
      tieuDe: 'Lịch tiêm phòng',
      noiDungVanBan: 'Trạm y tế xã thông báo lịch tiêm phòng cho trẻ em.',
      danhSachMaDonVi: ['19495', '99999'],
      mucDoUuTien: 3,
      thoiGianBatDau: vnTime(Date.now()),
      thoiGianKetThuc: vnTime(Date.now() + 3600_000),
    };
    const first = await send(bulletin);
    const answer = (await first.json()) as Record<string, unknown>;
    expect(first.status, JSON.stringify(answer)).toBe(201);
    expect(answer).toMatchObject({ maBanTin: 'HT-2026-0042', trangThai: 'pending-approval' });
    // Sent again (its answer lost, say): the same bulletin, nothing new.
    const again = await send(bulletin);
    expect(again.status).toBe(200);
    expect(((await again.json()) as Record<string, unknown>)['maTrenHeThong']).toBe(answer['maTrenHeThong']);
    // A field that does not fit is named in both its names.
    const bad = await send({ ...bulletin, maBanTin: 'HT-2026-0043', mucDoUuTien: 9 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/priority \(← mucDoUuTien\)/);

    const stored = (await world.api<{ scheduleId: string; unmatchedCodes: string[] }>(admin, 'GET', `/bulletins/${String(answer['maTrenHeThong'])}`)).body;
    expect(stored.unmatchedCodes).toEqual(['99999']);
    expect((await world.api(admin, 'POST', `/schedules/${stored.scheduleId}/approve`)).status).toBe(200);
    const reported = async () => (await world.server.core.reports.query({ limit: 50 })).filter((r) => r.scheduleId === stored.scheduleId && r.status === 'completed').length;
    await until('both commune speakers played it', async () => (await reported()) === 2, { timeoutMs: 40_000 });
    await world.server.core.bulletinProgress.check(); // the leader's check (every 30 s), now
    const outcomes = () => htttn.at('/ket-qua-ban-tin').map((r) => (r.body['duLieu'] as Record<string, unknown>[])[0]!);
    await until('played reported back', () => outcomes().some((o) => o['trangThai'] === 'played'));
    const states = outcomes().map((o) => o['trangThai']);
    expect(states[0]).toBe('pending-approval');
    expect(states.at(-1)).toBe('played');
    expect(new Set(states).size).toBe(states.length);
    expect(outcomes().at(-1)).toMatchObject({ maBanTin: 'HT-2026-0042', soCumLoa: 2, soCumPhatXong: 2, soCumLoi: 0, soCumKhongBaoCao: 0 });
  }, 90_000);

  it('keeps what it reports while the HTTTN is down, and delivers it all once, in order, when it is back', async () => {
    await htttn.down();
    const before = htttn.received.length;
    // Changes while the HTTTN is away: a speaker renamed, another one added.
    const renamed = await world.api(admin, 'PATCH', `/devices/${agents[1]!.id}`, { name: 'hai-an-2 (chợ)' });
    expect(renamed.status).toBe(200);
    const [registry] = await push({ kinds: ['registry'] });
    expect(registry).toMatchObject({ records: 3, queued: 1 });
    await world.server.core.devices.create({ name: 'hai-an-3', areaId: world.communeId });
    await push({ kinds: ['registry'] });
    await until('attempts fail while it is down', async () => ((await status()).lastError ?? '').length > 0);
    const down = await status();
    // Both registries wait (a bulletin's outcome may wait beside them: the leader's check moves it on its own time).
    expect((await world.api<Message[]>(admin, 'GET', '/upstream/messages?state=pending&kind=registry')).body).toHaveLength(2);
    expect(down.counts.pending).toBeGreaterThanOrEqual(2);
    expect(down.lastError).toMatch(/ECONNREFUSED|UND_ERR_SOCKET/);
    expect(htttn.received.length).toBe(before);

    // Back, but the first answer is lost: that request is sent again, and the double sees its key twice.
    htttn.loseAnswers = 1;
    await htttn.up();
    await push({ kinds: ['registry'] }); // on demand: what waits goes now (nothing new is queued)
    await until('all delivered', async () => (await status()).counts.pending === undefined, { timeoutMs: 20_000 });
    const registries = htttn.at('/cum-loa');
    expect(registries).toHaveLength(3);
    const names = (i: number) => (registries[i]!.body['duLieu'] as { tenCumLoa: string }[]).map((r) => r.tenCumLoa).sort();
    expect(names(1)).toEqual(['hai-an-1', 'hai-an-2 (chợ)', 'trieu-phong']);
    expect(names(2)).toEqual(['hai-an-1', 'hai-an-2 (chợ)', 'hai-an-3', 'trieu-phong']);
    expect(htttn.duplicates).toBe(1);

    // Nothing lost, nothing twice: every message of the outbox reached the double once, and no other.
    const log = (await world.api<Message[]>(admin, 'GET', '/upstream/messages?limit=100')).body;
    expect(log.every((m) => m.state === 'delivered')).toBe(true);
    expect(new Set(htttn.received.map((r) => r.key))).toEqual(new Set(log.map((m) => m.id)));
    expect(htttn.received).toHaveLength(log.length);
    expect(log.some((m) => m.attempts > 1)).toBe(true);
    expect(htttn.refused).toBe(0);
  }, 60_000);

  it('shows an admin the connector, and refuses it to others', async () => {
    const s = await status();
    expect(s).toMatchObject({ enabled: true, counts: { delivered: htttn.received.length }, lastError: null, oldestPendingAt: null });
    await world.addUser('xa', 'operator', world.communeId);
    const operator = await world.token('xa');
    expect((await world.api(operator, 'GET', '/upstream')).status).toBe(403);
    expect((await world.api(operator, 'POST', '/upstream/push', {})).status).toBe(403);
  });
});
