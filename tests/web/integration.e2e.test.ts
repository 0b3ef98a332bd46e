/**
 * The HTTTN connection in the web console (issue 21), in a real browser (Debian's Chromium via
 * playwright-core) against the real server configured with an upstream HTTTN, here a test
 * double that is down: an admin sees on the admin page what waits, since when and the last
 * error, brings it back with "Gửi ngay" once the HTTTN is up, and reads the delivery log; the
 * schedules page lists the bulletin the HTTTN sent, waiting for approval. axe-core at laptop and
 * phone size; screenshots go to test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_UPSTREAM_MAPPING } from '@loalang/broker';
import { PASSWORD, startAlertWorld, until, type AlertWorld } from '../alert-support.js';
import { HtttnDouble } from '../htttn-double.js';
import { requireTool } from '../support.js';
import { seriousViolations } from './axe.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM) || (process.stdout.write(`SKIP: chromium is not installed (apt-get install chromium)\n`), false);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(ROOT, 'test-output/screenshots');
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

describe.skipIf(!haveChromium || !requireTool('espeak-ng'))('the HTTTN connection in the web console (Chromium)', () => {
  const htttn = new HtttnDouble('htttn-token-0123456789', 'htttn-hmac-secret-0123456789');
  let world: AlertWorld;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    expect(existsSync(join(ROOT, 'web/dist/index.html')), 'web/dist is built by `npm run build` (npm test runs it first)').toBe(true);
    mkdirSync(SHOTS, { recursive: true });
    // Its port is taken, then closed: the HTTTN is down from the start.
    await htttn.up();
    await htttn.down();
    world = await startAlertWorld({
      upstream: { url: htttn.url, mapping: DEFAULT_UPSTREAM_MAPPING, token: htttn.token, hmacSecret: htttn.secret, everyMs: 3600_000 },
      outbox: { baseMs: 300, maxMs: 1000, pollMs: 200 },
    });
    base = `http://127.0.0.1:${world.server.httpPort}`;
    await world.addUser('tinh', 'admin', world.provinceId);
    await world.addUser('xa', 'operator', world.communeId);
    await world.server.core.devices.create({ name: 'Loa chợ', areaId: world.communeId });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await world?.close();
    await htttn.down();
  });

  const open = async (size: { width: number; height: number }, username = 'tinh'): Promise<Page> => {
    const page = await browser.newPage({ viewport: size, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh', bypassCSP: true });
    await page.goto(base);
    await page.getByLabel('Tên đăng nhập').fill(username);
    await page.getByLabel('Mật khẩu').fill(PASSWORD);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('link', { name: 'Tổng quan' }).waitFor();
    return page;
  };
  const toAdmin = async (page: Page) => {
    await page.getByRole('link', { name: 'Quản trị' }).click();
    return page.getByTestId('upstream');
  };

  it('shows an admin what waits for the HTTTN and why, and sends it once the HTTTN is back', async () => {
    const page = await open(LAPTOP);
    let card = await toAdmin(page);
    await card.getByRole('heading', { name: 'Kết nối hệ thống thông tin nguồn (HTTTN)' }).waitFor();
    await card.getByText(htttn.url).waitFor();
    await card.getByText('loalang-htttn@1').waitFor();
    await card.getByRole('button', { name: 'Gửi ngay' }).click();
    // The registry, the programmes, and the results of yesterday and the day before (empty days are news too).
    await card.getByText('Đã đưa 4 tin vào hàng gửi.').waitFor();
    // The HTTTN refuses connections: after an attempt, the card says what waits, since when, and the error.
    await until('an attempt failed', async () => ((await world.server.core.upstream!.status()).lastError ?? '') !== '');
    await page.reload();
    card = page.getByTestId('upstream');
    await card.getByTestId('upstream-waiting').getByText(/4 tin đang chờ gửi \(đang chờ từ /).waitFor();
    expect(await card.getByText(/ECONNREFUSED|UND_ERR_SOCKET/).count()).toBeGreaterThan(0);
    const log = card.getByRole('region', { name: 'Nhật ký gửi' });
    expect(await log.getByText('Sổ đăng ký cụm loa').count()).toBe(1);
    expect(await log.getByText('Kết quả phát').count()).toBe(2);
    expect(await log.getByText('Đang chờ').count()).toBe(4);
    await card.screenshot({ path: join(SHOTS, 'htttn-waiting-laptop.png') });
    expect(await seriousViolations(page, 'admin (HTTTN waiting, laptop)')).toEqual([]);

    await htttn.up();
    await card.getByRole('button', { name: 'Gửi ngay' }).click();
    await card.getByText('Không có gì mới để gửi; các tin đang chờ được gửi lại ngay.').waitFor();
    await until('delivered', () => htttn.received.length === 4);
    await page.reload();
    card = page.getByTestId('upstream');
    await card.getByTestId('upstream-waiting').getByText('Đã gửi hết').waitFor();
    expect(await card.getByRole('region', { name: 'Nhật ký gửi' }).getByText(/^Đã gửi/).count()).toBe(4);
    expect(htttn.at('/cum-loa')).toHaveLength(1);
    expect(htttn.at('/chuong-trinh')).toHaveLength(1);
    expect(htttn.at('/ket-qua-phat')).toHaveLength(2);
    await page.close();
  }, 60_000);

  it('reads on a phone, without sideways scrolling, and is not shown to an operator', async () => {
    const page = await open(PHONE);
    const card = await toAdmin(page);
    await card.getByTestId('upstream-waiting').getByText('Đã gửi hết').waitFor();
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: join(SHOTS, 'htttn-phone.png') });
    expect(await seriousViolations(page, 'admin (HTTTN, phone)')).toEqual([]);
    const overflow = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
    const operator = await open(LAPTOP, 'xa');
    expect(await operator.getByRole('link', { name: 'Quản trị' }).count()).toBe(0);
    await operator.close();
  }, 60_000);

  it('lists the bulletin the HTTTN sent on the schedules page, waiting for approval', async () => {
    const admin = await world.token('tinh');
    const sa = await world.api<{ key: string }>(admin, 'POST', '/service-accounts', { name: 'htttn', role: 'operator', areaId: world.provinceId });
    const res = await fetch(`${base}/api/v1/upstream/bulletins`, {
      method: 'POST',
      headers: { 'x-api-key': sa.body.key, 'content-type': 'application/json' },
      body: JSON.stringify({ maBanTin: 'HT-2026-0077', tieuDe: 'Phòng chống rét đậm cho gia súc', noiDungVanBan: 'Bà con chú ý che chắn chuồng trại.', danhSachMaDonVi: ['19495'], mucDoUuTien: 2 }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const page = await open(PHONE);
    await page.getByRole('link', { name: 'Lịch phát' }).click();
    const row = page.getByTestId('bulletins').getByRole('row', { name: /Phòng chống rét đậm cho gia súc/ });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/Chờ duyệt/);
    await row.scrollIntoViewIfNeeded();
    await page.getByTestId('bulletins').screenshot({ path: join(SHOTS, 'htttn-bulletin-phone.png') });
    expect(await seriousViolations(page, 'schedules (bulletin, phone)')).toEqual([]);
    await page.close();
  }, 60_000);
});
