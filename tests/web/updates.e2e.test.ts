/**
 * Fleet updates in the web console (issue 20), in a real browser: Playwright (playwright-core)
 * drives Debian's Chromium against the real server (in-process, given a release key) and five
 * speakers of a commune, each a real MQTT client with its own credentials that receives the
 * signed offer and reports its steps as a box does. A technician uploads a bundle signed by
 * another key (refused, in Vietnamese) and one signed by the server's key (listed); starts a
 * rollout to the commune with the default waves; watches the first wave confirm and the next
 * start without a reload (the live stream); pauses and resumes; sees a speaker refuse the
 * bundle in plain words and the rollout halt itself with its reason; reads a speaker's version
 * and update state on its page. An operator has no Updates page. axe-core on every page at
 * laptop and phone size; screenshots go to test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { deviceTopic, newSigningKey, type UpdateDeviceState, type UpdateOffer } from '@loalang/protocol';
import { packRelease } from '../../cli/src/release/pack.js';
import { ROUTES } from '../../web/src/routes.js';
import { PASSWORD, startAlertWorld, until, type AlertWorld } from '../alert-support.js';
import { seriousViolations } from './axe.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM) || (process.stdout.write(`SKIP: chromium is not installed (apt-get install chromium)\n`), false);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(ROOT, 'test-output/screenshots');
const WEB_BUILT = existsSync(join(ROOT, 'web/dist/index.html'));
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };
const key = newSigningKey();

interface Speaker {
  id: string;
  name: string;
  client: mqtt.MqttClient;
  offers: UpdateOffer[];
}

describe.skipIf(!haveChromium)('fleet updates in the web console (Chromium)', () => {
  let world: AlertWorld;
  let browser: Browser;
  let base: string;
  let good: string;
  let stranger: string;
  const speakers: Speaker[] = [];
  /** Every API call the pages make, as `METHOD /path`. */
  const calls = new Set<string>();
  let rolloutId = '';
  /** The speakers of each wave, as they were offered the release. */
  const waves: Speaker[][] = [];

  beforeAll(async () => {
    expect(WEB_BUILT, 'web/dist is built by `npm run build` (npm test runs it first)').toBe(true);
    mkdirSync(SHOTS, { recursive: true });
    world = await startAlertWorld({ releaseKeys: [{ kid: key.kid, publicKey: key.publicKey }] });
    base = `http://127.0.0.1:${world.server.httpPort}`;
    // Two bundles of the agent as built here: one signed by the server's release key, one by a stranger's.
    good = join(world.dir, 'loalang-agent-9.0.0.tar.gz');
    stranger = join(world.dir, 'loalang-agent-9.0.1.tar.gz');
    await packRelease({ root: ROOT, version: '9.0.0', arch: process.arch as 'x64', privateKeyPem: key.privateKeyPem, out: good });
    await packRelease({ root: ROOT, version: '9.0.1', arch: process.arch as 'x64', privateKeyPem: newSigningKey().privateKeyPem, out: stranger });
    await world.addUser('ky-thuat', 'technician', world.provinceId);
    await world.addUser('van-hanh', 'operator', world.communeId);
    const { core } = world.server;
    for (let i = 1; i <= 5; i++) {
      const name = `Loa thôn ${i}`;
      const { device, secret } = await core.devices.create({ name, areaId: world.communeId });
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: secret, reconnectPeriod: 0 });
      const speaker: Speaker = { id: device.id, name, client, offers: [] };
      client.on('message', (_topic, payload) => {
        const envelope = JSON.parse(payload.toString()) as { kind: string; body: UpdateOffer };
        if (envelope.kind === 'update') speaker.offers.push(envelope.body);
      });
      await client.subscribeAsync(`loalang/v1/dev/${device.id}/#`, { qos: 1 });
      // Its health, as an agent sends it: the version it runs.
      await client.publishAsync(deviceTopic(device.id, 'telemetry'), JSON.stringify({ v: 1, at: new Date().toISOString(), agentVersion: '1.4.2', uptimeSec: 3600, desiredVersion: 0, outboxPending: 0 }), { qos: 1 });
      // The first says its CPU with its reported state, as agents do (the others are older agents that do not).
      if (speakers.length === 0) await client.publishAsync(deviceTopic(device.id, 'reported'), JSON.stringify({ v: 1, version: 0, at: new Date().toISOString(), cachedContentIds: [], missingContentIds: [], agentVersion: '1.4.2', arch: 'x64' }), { qos: 1 });
      speakers.push(speaker);
    }
    await until('speakers online', () => speakers.every((s) => core.mqtt.isOnline(s.id)));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(speakers.map((s) => s.client.endAsync()));
    await world?.close();
  });

  const newPage = async (size = LAPTOP, extra: Parameters<Browser['newPage']>[0] = {}) => {
    const page = await browser.newPage({ viewport: size, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh', ...extra });
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname.startsWith('/api/v1/')) calls.add(`${r.method()} ${url.pathname.slice('/api/v1'.length)}`);
    });
    return page;
  };
  const loggedIn = async (page: Page, username = 'ky-thuat') => {
    await page.goto(base);
    await page.getByLabel('Tên đăng nhập').fill(username);
    await page.getByLabel('Mật khẩu').fill(PASSWORD);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('link', { name: 'Tổng quan' }).waitFor();
  };
  /** A speaker's account of its update, on its own topic, as the agent sends it. */
  const report = (s: Speaker, state: UpdateDeviceState, reason?: string) =>
    s.client.publishAsync(deviceTopic(s.id, 'update/status'), JSON.stringify({ v: 1, rolloutId, version: '9.0.0', state, running: state === 'confirmed' ? '9.0.0' : '1.4.2', at: new Date().toISOString(), ...(reason ? { reason } : {}) }), { qos: 1 });
  const offered = () => speakers.filter((s) => s.offers.some((o) => o.type === 'offer'));
  const wave = (page: Page, n: number) => page.getByTestId(`wave-${n}`);
  const noSideScroll = (page: Page) =>
    page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });

  it('a technician uploads a release (one signed by another key is refused, in Vietnamese) and sees it listed', async () => {
    const page = await newPage();
    await loggedIn(page);
    await page.getByRole('link', { name: 'Cập nhật', exact: true }).click();
    await page.getByRole('heading', { name: 'Cập nhật phần mềm' }).waitFor();
    await page.getByText('Chưa có bản phát hành nào.').waitFor();
    const upload = page.getByTestId('upload-release');
    await upload.locator('input[type="file"]').setInputFiles(stranger);
    await upload.getByRole('button', { name: 'Tải lên bản phát hành' }).click();
    await upload.getByRole('alert').waitFor();
    expect(await upload.getByRole('alert').textContent()).toBe('Yêu cầu không hợp lệ: không được ký bằng khóa phát hành mà máy chủ biết');
    await upload.locator('input[type="file"]').setInputFiles(good);
    await upload.getByRole('button', { name: 'Tải lên bản phát hành' }).click();
    await upload.getByText('Đã tải lên phiên bản 9.0.0; chữ ký hợp lệ.').waitFor();
    const row = page.getByTestId('releases').locator('tbody tr');
    await row.first().waitFor();
    const cells = await row.first().locator('th, td').allTextContents();
    expect(cells[0]).toBe('9.0.0');
    expect(cells[1]).toBe(process.arch);
    expect(cells[5]).toBe(key.kid);
    expect(cells[6]).toContain('ky-thuat');
    await page.close();
  }, 60_000);

  it('starts a rollout to the commune with the default waves; watches wave 1 confirm and wave 2 start live; pauses and resumes', async () => {
    const page = await newPage();
    await loggedIn(page);
    await page.getByRole('link', { name: 'Cập nhật', exact: true }).click();
    const form = page.getByTestId('start-rollout');
    await form.waitFor();
    expect(await form.getByLabel('Các đợt (% số loa, cộng dồn)').inputValue()).toBe('1, 10, 100');
    expect(await form.getByLabel('Ngưỡng lỗi (%)').inputValue()).toBe('10');
    await form.getByRole('button', { name: 'Bắt đầu cập nhật' }).click();
    expect(await form.getByRole('alert').textContent()).toBe('Chọn ít nhất một địa bàn hoặc một loa.');
    await form.getByLabel(/Xã Hải An/).check();
    await form.getByTestId('rollout-count').getByText('5 loa').waitFor();
    await form.getByRole('button', { name: 'Bắt đầu cập nhật' }).click();
    // Its page: 5 speakers in waves of 1, 1 and 3 (1 %, 10 %, 100 % of 5, at least one each).
    await page.getByRole('heading', { name: 'Cập nhật lên phiên bản 9.0.0' }).waitFor();
    rolloutId = page.url().split('#/updates/')[1]!;
    expect(await page.getByTestId('rollout-state').textContent()).toBe('Đang chạy');
    expect(await page.getByTestId('rollout-wave').textContent()).toBe('Đợt 1/3');
    expect(await wave(page, 1).locator('[data-state]').allTextContents()).toEqual(['1 Đã gửi']);
    expect(await wave(page, 3).locator('[data-state]').allTextContents()).toEqual(['3 Chưa tới đợt']);
    await until('the first speaker offered', () => offered().length === 1);
    waves.push(offered());
    const first = waves[0]![0]!;
    // It downloads, installs and confirms; the page follows without a reload.
    await report(first, 'downloading');
    await wave(page, 1).getByText('1 Đang tải').waitFor();
    await report(first, 'verified');
    await report(first, 'installed');
    await report(first, 'confirmed');
    await wave(page, 1).getByText('1 Đã xác nhận').waitFor();
    await page.getByTestId('rollout-wave').getByText('Đợt 2/3').waitFor();
    expect(await wave(page, 2).getAttribute('data-phase')).toBe('current');
    await until('the second wave offered', () => offered().length === 2);
    waves.push(offered().filter((s) => s !== first));
    const row = page.getByTestId('rollout-devices').locator('tr', { hasText: first.name });
    expect(await row.locator('td').nth(1).textContent()).toBe('Đã xác nhận');
    // Pause, then resume.
    await page.getByRole('button', { name: 'Tạm dừng' }).click();
    await page.getByTestId('rollout-state').getByText('Tạm dừng').waitFor();
    await page.screenshot({ path: join(SHOTS, 'rollout-paused-laptop.png'), fullPage: true });
    await page.getByRole('button', { name: 'Tiếp tục' }).click();
    await page.getByTestId('rollout-state').getByText('Đang chạy').waitFor();
    const second = waves[1]![0]!;
    await report(second, 'installed');
    await report(second, 'confirmed');
    await page.getByTestId('rollout-wave').getByText('Đợt 3/3').waitFor();
    await until('the last wave offered', () => offered().length === 5);
    waves.push(offered().filter((s) => s !== first && s !== second));
    const last = waves[2]!;
    await report(last[0]!, 'downloading');
    await report(last[1]!, 'waiting', 'an alert, a live announcement or a play is on or due: installing at the next gap');
    await wave(page, 3).getByText('1 Chờ lúc không phát').waitFor();
    await page.screenshot({ path: join(SHOTS, 'rollout-laptop.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('a speaker refuses the bundle in plain words; past the threshold the rollout halts itself and says why, in both languages', async () => {
    const page = await newPage(PHONE);
    await loggedIn(page);
    await page.goto(`${base}/#/updates/${rolloutId}`);
    await page.getByTestId('waves').waitFor();
    const refusing = waves[2]![2]!;
    await report(refusing, 'refused', 'wrong-arch: bundle for x64, box is arm64');
    await page.getByTestId('halt-reason').waitFor();
    expect(await page.getByTestId('rollout-state').textContent()).toBe('Đã tự dừng');
    expect(await page.getByTestId('halt-reason').textContent()).toContain('Đợt 3: 1 trên 3 loa lỗi, quá ngưỡng 10\u00a0%');
    const row = page.getByTestId('rollout-devices').locator('tr', { hasText: refusing.name });
    expect(await row.locator('td').allTextContents()).toEqual(['3', 'Bị từ chối', 'Sai kiến trúc CPU (bundle for x64, box is arm64)', expect.any(String)]);
    // The two others had not installed: withdrawn, and told why.
    await wave(page, 3).getByText('2 Đã rút lại').waitFor();
    expect(await page.getByTestId('rollout-devices').getByText('Lượt cập nhật đã tự dừng').count()).toBe(2);
    // Only failures, when asked.
    await page.locator('select[name="which"]').selectOption('problems');
    expect(await page.getByTestId('rollout-devices').locator('tbody tr').count()).toBe(1);
    await page.locator('select[name="which"]').selectOption('');
    // No pause or cancel on a rollout that has ended.
    expect(await page.getByRole('button', { name: 'Tạm dừng' }).count()).toBe(0);
    expect(await noSideScroll(page)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'rollout-halted-phone.png'), fullPage: true });
    await page.getByTestId('lang-switch').click();
    await page.getByTestId('rollout-state').getByText('Halted by itself').waitFor();
    expect(await page.getByTestId('halt-reason').textContent()).toContain('Wave 3: 1 of 3 speakers failed, past the 10\u00a0% threshold.');
    expect(await row.locator('td').nth(2).textContent()).toBe('Wrong CPU architecture (bundle for x64, box is arm64)');
    await page.getByTestId('lang-switch').click();
    await page.close();
  }, 60_000);

  it('the overview lists the rollout and the release, and fits a phone', async () => {
    for (const [size, shot] of [[LAPTOP, 'updates-laptop.png'], [PHONE, 'updates-phone.png']] as const) {
      const page = await newPage(size);
      await loggedIn(page);
      await page.goto(`${base}/#/updates`);
      const row = page.getByTestId('rollouts').locator('tbody tr');
      await row.first().waitFor();
      expect(await row.first().locator('th, td').allTextContents()).toEqual(['9.0.0', 'Đã tự dừng', '3', 'Xã Hải An', expect.any(String)]);
      expect(await noSideScroll(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(SHOTS, shot), fullPage: true });
      await page.close();
    }
  }, 60_000);

  it("a speaker's page shows the version it runs and its update state", async () => {
    const page = await newPage(PHONE);
    await loggedIn(page);
    const refusing = waves[2]![2]!;
    await page.goto(`${base}/#/devices/${refusing.id}`);
    const card = page.getByTestId('device-update');
    await card.getByTestId('update-state').waitFor();
    expect(await card.getByTestId('agent-version').textContent()).toBe('1.4.2');
    expect(await card.getByTestId('update-state').textContent()).toBe('Bị từ chối');
    expect(await card.textContent()).toContain('Sai kiến trúc CPU (bundle for x64, box is arm64)');
    expect(await card.getByRole('link', { name: 'Cập nhật lên phiên bản 9.0.0' }).getAttribute('href')).toBe(`#/updates/${rolloutId}`);
    expect(await noSideScroll(page)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'device-update-phone.png'), fullPage: true });
    // The first speaker confirmed it.
    await page.goto(`${base}/#/devices/${waves[0]![0]!.id}`);
    await card.getByTestId('update-state').getByText('Đã xác nhận').waitFor();
    // The CPU a speaker said.
    await page.goto(`${base}/#/devices/${speakers[0]!.id}`);
    expect(await card.getByTestId('agent-arch').textContent()).toBe('x64');
    await page.close();
  }, 60_000);

  it('an operator has no Updates page', async () => {
    const page = await newPage();
    await loggedIn(page, 'van-hanh');
    await page.getByRole('link', { name: 'Thiết bị' }).waitFor();
    expect(await page.getByRole('link', { name: 'Cập nhật', exact: true }).count()).toBe(0);
    await page.close();
  });

  it('has no serious or critical accessibility problem (axe-core, WCAG 2 A and AA) on the update pages, laptop and phone', async () => {
    const problems: string[] = [];
    for (const size of [LAPTOP, PHONE]) {
      // The checker is injected as a script (axe.ts): the CSP is bypassed for the audit only.
      const page = await newPage(size, { bypassCSP: true });
      await loggedIn(page);
      for (const [path, ready] of [
        ['#/updates', '[data-testid="releases"]'],
        [`#/updates/${rolloutId}`, '[data-testid="rollout-devices"] tbody tr'],
        [`#/devices/${speakers[0]!.id}`, '[data-testid="update-state"]'],
      ] as const) {
        await page.goto(`${base}/${path}`);
        await page.locator(ready).first().waitFor();
        problems.push(...(await seriousViolations(page, `${size.width}px ${path}`)));
      }
      await page.close();
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('made no API call outside the routes the console declares (checked against OpenAPI)', async () => {
    const spec = (await (await fetch(`${base}/api/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const route of ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      expect(spec.paths[`/api/v1${path}`]?.[method.toLowerCase()], route).toBeDefined();
    }
    const declared = ROUTES.map((r) => new RegExp(`^${r.replace(/\{[a-zA-Z]+\}/g, '[^/]+')}$`));
    expect([...calls].filter((c) => !declared.some((re) => re.test(c)))).toEqual([]);
    for (const used of ['GET /releases', 'POST /releases', 'GET /rollouts', 'POST /rollouts', 'POST /rollouts/{id}/pause', 'POST /rollouts/{id}/resume', 'GET /devices/{id}/update']) {
      const re = declared[ROUTES.indexOf(used as (typeof ROUTES)[number])]!;
      expect([...calls].some((c) => re.test(c)), used).toBe(true);
    }
  });
});
