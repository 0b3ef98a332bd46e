/**
 * The web console in a real browser: Playwright (playwright-core) drives Debian's Chromium
 * against the real server (in-process) with three real agents in a commune. Logs in in
 * Vietnamese, reads the overview, switches language, and, on a phone-sized window, types an
 * alert, confirms how many speakers will sound and watches the delivery board reach them all.
 * Screenshots of each page go to test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROUTES } from '../../web/src/api.js';
import { PASSWORD, startAgent, startAlertWorld, TimedSink, type AlertWorld, type RunningAgent } from '../alert-support.js';
import { requireTool } from '../support.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM) || (process.stdout.write(`SKIP: chromium is not installed (apt-get install chromium)\n`), false);
const haveTools = haveChromium && requireTool('ffmpeg') && requireTool('espeak-ng');
const SHOTS = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));
const WEB_BUILT = existsSync(fileURLToPath(new URL('../../web/dist/index.html', import.meta.url)));

describe.skipIf(!haveTools)('web console in Chromium', () => {
  let world: AlertWorld;
  let browser: Browser;
  let base: string;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    expect(WEB_BUILT, 'web/dist is built by `npm run build` (npm test runs it first)').toBe(true);
    mkdirSync(SHOTS, { recursive: true });
    world = await startAlertWorld();
    base = `http://127.0.0.1:${world.server.httpPort}`;
    await world.addUser('can-bo-huyen', 'alert-staff', world.provinceId);
    await world.addUser('quan-tri-tinh', 'admin', world.provinceId);
    await world.addUser('ky-thuat', 'technician', world.provinceId);
    await world.addUser('van-hanh', 'operator', world.communeId);
    for (const name of ['Loa thôn Đông', 'Loa thôn Tây', 'Loa chợ']) agents.push(await startAgent(world, name, world.communeId, { sink: new TimedSink(800) }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const a of agents) await a.agent.stop().catch(() => undefined);
    await world?.close();
  });

  async function loggedIn(page: Page, username = 'can-bo-huyen'): Promise<void> {
    await page.goto(base);
    await page.getByLabel('Tên đăng nhập').fill(username);
    await page.getByLabel('Mật khẩu').fill(PASSWORD);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('link', { name: 'Tổng quan' }).waitFor();
  }

  it('every API route the console calls is in the OpenAPI description', async () => {
    const spec = (await (await fetch(`${base}/api/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const route of ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      expect(spec.paths[`/api/v1${path}`]?.[method.toLowerCase()], route).toBeDefined();
    }
  });

  it('logs in in Vietnamese, refuses a wrong password in Vietnamese, shows the overview and switches language', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN' });
    await page.goto(base);
    expect(await page.locator('html').getAttribute('lang')).toBe('vi');
    await page.getByLabel('Tên đăng nhập').fill('can-bo-huyen');
    await page.getByLabel('Mật khẩu').fill('sai-mat-khau');
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('Sai tên đăng nhập hoặc mật khẩu');
    await page.screenshot({ path: join(SHOTS, 'login.png') });

    await page.getByLabel('Mật khẩu').fill(PASSWORD);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    const row = page.getByTestId(`area-row-${world.communeId}`);
    await row.waitFor();
    // Xã Hải An: 3 speakers, all online, none offline.
    await row.locator('td:nth-child(3)', { hasText: /^3$/ }).waitFor();
    expect(await row.locator('td').allTextContents()).toEqual(['3', '3', '0', '0', '0']);
    await page.screenshot({ path: join(SHOTS, 'dashboard-vi.png') });

    await page.getByTestId('lang-switch').click();
    await page.getByRole('link', { name: 'Overview' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.screenshot({ path: join(SHOTS, 'dashboard-en.png') });
    await page.reload(); // the choice is remembered
    await page.getByRole('link', { name: 'Overview' }).waitFor();
    await page.getByTestId('lang-switch').click();
    await page.getByRole('link', { name: 'Tổng quan' }).waitFor();
    await page.close();
  });

  it('on a phone: types an alert, is told 3 speakers will sound, and watches every one confirm it', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, locale: 'vi-VN', isMobile: true, hasTouch: true });
    await loggedIn(page);
    await page.getByRole('link', { name: 'Cảnh báo khẩn cấp' }).click();
    await page.getByLabel('Tiêu đề').fill('Bão số 3');
    await page.getByLabel('Nội dung (máy sẽ đọc bằng giọng nói)').fill('Bão số ba sắp đổ bộ. Bà con khẩn trương chằng chống nhà cửa.');
    await page.getByRole('checkbox', { name: /Xã Hải An/ }).check();
    await page.screenshot({ path: join(SHOTS, 'alert-compose-phone.png'), fullPage: true });
    await page.getByRole('button', { name: 'Phát cảnh báo' }).click();
    expect(await page.getByTestId('confirm-count').textContent()).toBe('3 loa sẽ phát cảnh báo này ngay lập tức.');
    await page.screenshot({ path: join(SHOTS, 'alert-confirm-phone.png'), fullPage: true });
    await page.getByRole('button', { name: 'Phát ngay' }).click();

    // The board fills in from the event stream: every speaker reaches "Đã phát xong".
    await page.locator('tr[data-state="finished"]').nth(2).waitFor({ timeout: 30_000 });
    expect(await page.locator('tbody th').allTextContents()).toEqual(['Loa chợ', 'Loa thôn Đông', 'Loa thôn Tây']);
    expect(await page.locator('tr[data-state="finished"] td:first-of-type').allTextContents()).toEqual(['Đã phát xong', 'Đã phát xong', 'Đã phát xong']);
    await page.screenshot({ path: join(SHOTS, 'alert-board-phone.png'), fullPage: true });

    await page.getByRole('button', { name: 'Dừng cảnh báo' }).click();
    await page.getByTestId('alert-state').filter({ hasText: 'Đã dừng' }).waitFor();
    await page.close();
  }, 60_000);

  it('reports what played: a row per speaker, the per-day chart, and the CSV download', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN', acceptDownloads: true });
    await loggedIn(page);
    await page.getByRole('link', { name: 'Báo cáo' }).click();
    // The alert above played twice on each of the three speakers: six plays today.
    await page.locator('table[data-testid="reports"] tr[data-status="completed"]').nth(5).waitFor({ timeout: 15_000 });
    const speakers = await page.locator('table[data-testid="reports"] tbody th').allTextContents();
    expect([...new Set(speakers)].sort()).toEqual(['Loa chợ', 'Loa thôn Đông', 'Loa thôn Tây'].sort());
    expect(await page.getByRole('img', { name: /\d{4}-\d{2}-\d{2}: 6/ }).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'reports.png'), fullPage: true });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Tải về CSV' }).click()]);
    const csv = await new Promise<string>((resolve, reject) => {
      void download.createReadStream().then((stream) => {
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      }, reject);
    });
    expect(csv.trim().split('\n')).toHaveLength(7); // a header and six plays
    await page.close();
  }, 60_000);

  it('lists devices with filters, shows one device and runs a remote command on it (technician)', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN' });
    await loggedIn(page, 'ky-thuat');
    await page.getByRole('link', { name: 'Thiết bị' }).click();
    const rows = page.locator('table[data-testid="devices"] tbody tr');
    await rows.nth(2).waitFor();
    expect(await rows.count()).toBe(3);
    await page.getByLabel('Tình trạng').selectOption('offline');
    expect(await rows.count()).toBe(0);
    await page.getByLabel('Tình trạng').selectOption('');
    await page.getByLabel('Tìm theo tên').fill('chợ');
    expect(await page.locator('table[data-testid="devices"] tbody th').allTextContents()).toEqual(['Loa chợ']);
    await page.screenshot({ path: join(SHOTS, 'devices.png'), fullPage: true });
    await page.getByRole('link', { name: 'Loa chợ' }).click();
    await page.getByRole('heading', { name: 'Loa chợ' }).waitFor();
    await page.getByRole('button', { name: 'Kiểm tra ampli' }).click();
    await page.locator('table[data-testid="commands"] tr[data-status="succeeded"]', { hasText: 'amp-test' }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: join(SHOTS, 'device-detail.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('lets an admin add a user and read the audit log; others do not see the page', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN' });
    await loggedIn(page);
    await page.getByRole('link', { name: 'Báo cáo' }).waitFor();
    expect(await page.getByRole('link', { name: 'Quản trị' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Đăng xuất' }).click();
    await loggedIn(page, 'quan-tri-tinh');
    await page.getByRole('link', { name: 'Quản trị' }).click();
    await page.getByLabel('Tên đăng nhập').fill('van-hanh-xa');
    await page.getByLabel('Mật khẩu').fill('mat-khau-van-hanh');
    await page.getByLabel('Vai trò').selectOption('operator');
    await page.getByLabel('Địa bàn').selectOption(world.communeId);
    await page.getByRole('button', { name: 'Thêm người dùng' }).click();
    await page.locator('table[data-testid="users"] th', { hasText: 'van-hanh-xa' }).waitFor();
    await page.getByLabel(/Lọc theo thao tác/).fill('POST /api/v1/alerts');
    await page.getByRole('button', { name: 'Xem' }).click();
    await page.locator('table[data-testid="audit"] td', { hasText: 'can-bo-huyen' }).first().waitFor();
    await page.screenshot({ path: join(SHOTS, 'admin.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('an operator composes a bulletin, hears it, schedules it; an admin approves it; it shows on the week and in the report', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN' });
    await loggedIn(page, 'van-hanh');
    await page.getByRole('link', { name: 'Lịch phát' }).click();
    await page.getByLabel('Tiêu đề').first().fill('Bản tin sáng');
    await page.getByLabel('Nội dung bản tin (máy đọc)').fill('Thông báo lịch tiêm chủng cho trẻ em tại trạm y tế xã vào sáng thứ bảy.');
    await page.getByRole('button', { name: 'Tạo âm thanh' }).click();
    const preview = page.getByTestId('preview');
    await preview.waitFor({ timeout: 20_000 });
    expect(await preview.getAttribute('src')).toMatch(/^blob:/);
    // Two minutes ahead at the latest: the input takes minutes.
    const at = new Date(Date.now() + 100_000);
    const pad = (n: number) => String(n).padStart(2, '0');
    await page.locator('input[name="start"]').fill(`${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`);
    await page.getByRole('button', { name: 'Lưu lịch' }).click();
    await page.locator('table[data-testid="schedules"] tr[data-status="pending"]', { hasText: 'Bản tin sáng' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'schedules-operator.png'), fullPage: true });
    expect(await page.getByRole('button', { name: 'Phê duyệt' }).count()).toBe(0); // operators do not approve their own
    await page.getByRole('button', { name: 'Đăng xuất' }).click();

    await loggedIn(page, 'quan-tri-tinh');
    await page.getByRole('link', { name: 'Lịch phát' }).click();
    await page.getByRole('button', { name: 'Phê duyệt' }).click();
    await page.locator('table[data-testid="schedules"] tr[data-status="approved"]', { hasText: 'Bản tin sáng' }).waitFor();
    await page.locator('[data-testid="week"] .play.approved', { hasText: 'Bản tin sáng' }).waitFor();
    await page.screenshot({ path: join(SHOTS, 'schedules-week.png'), fullPage: true });

    // It plays on the three speakers at its minute; then the report shows it.
    const due = new Date(at);
    due.setSeconds(0, 0);
    await new Promise((r) => setTimeout(r, Math.max(0, due.getTime() - Date.now() + 4000)));
    await page.getByRole('link', { name: 'Báo cáo' }).click();
    await page.locator('table[data-testid="reports"] tr[data-status="completed"]', { hasText: 'Bản tin sáng' }).nth(2).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, 'reports-bulletin.png'), fullPage: true });
    await page.close();
  }, 180_000);
});
