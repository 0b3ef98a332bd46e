/**
 * Phát trực tiếp in a real browser (issue 18): Chromium (Playwright) with a fake microphone that
 * plays a known Vietnamese recording, the operator's console page, and two real agents (each a
 * process of its own, clocks seconds off) behind emulated rural 4G links, writing what they play
 * to WAV files. Both files hold what the browser sent (cross-correlation), in step; mouth-to-horn
 * latency and skew are printed; one agent's link is cut for 5 s and it rejoins at the live
 * point; "Kết thúc" ends it and the report lists both speakers. Screenshots at laptop and phone
 * size go to test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startLink, type Link } from '@loalang/test-kit';
import { livePlayId } from '@loalang/protocol';
import { clocksMeasured, PASSWORD, startAgentProcess, startAlertWorld, until, type AgentProcess, type AlertWorld } from '../alert-support.js';
import { requireTool } from '../support.js';
import { analyseTwoSpeakers, decodeFrames, describeTwoSpeakers, expectTwoSpeakersInStep, pcmOf, recordingIn, sinkOf, wavOf } from '../live-support.js';

const CHROMIUM = '/usr/bin/chromium';
const ready = existsSync(CHROMIUM) && requireTool('ffmpeg') && requireTool('espeak-ng');
const SHOTS = fileURLToPath(new URL('../../test-output/screenshots/', import.meta.url));
const TEXT =
  'Kính thưa bà con, đây là thông báo trực tiếp của ủy ban nhân dân xã. Chiều nay lúc ba giờ, tại nhà văn hóa thôn Đông, xã tổ chức họp bàn việc làm đường bê tông liên thôn. ' +
  'Mời đại diện các hộ gia đình đến dự đúng giờ. Sáng thứ bảy, đoàn thanh niên ra quân dọn vệ sinh kênh mương, bà con chuẩn bị cuốc xẻng. ' +
  'Trạm y tế nhắc các gia đình có người cao tuổi đi khám sức khỏe định kỳ trong tuần này.';

describe.runIf(ready)('live announcement from the console in Chromium', () => {
  let world: AlertWorld;
  let browser: Browser;
  const processes: AgentProcess[] = [];
  const links: Link[] = [];
  let wav: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    world = await startAlertWorld();
    await world.addUser('van-hanh', 'operator', world.communeId);
    // The fake microphone's recording: espeak-ng's Vietnamese voice, as a 48 kHz mono WAV.
    const spoken = join(world.dir, 'spoken.wav');
    wav = join(world.dir, 'microphone.wav');
    execFileSync('espeak-ng', ['-v', 'vi', '-w', spoken, '--', TEXT]);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', spoken, '-ar', '48000', '-ac', '1', '-c:a', 'pcm_s16le', wav]);
    for (const [name, shiftMs] of [['Loa thôn Đông', 1500], ['Loa thôn Tây', -2200]] as const) {
      const link = await startLink({ target: { port: world.server.mqttPort }, profile: 'rural4g' });
      links.push(link);
      processes.push(await startAgentProcess(world, name, world.communeId, shiftMs, { mqttUrl: link.url('mqtt') }));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // A microphone that says the recording once, and no permission prompt.
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}%noloop`,
      ],
    });
    await until('both speakers online', () => processes.every((p) => world.server.core.mqtt.isOnline(p.id)), 20_000);
    await clocksMeasured(world, processes);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(links.map((l) => l.close()));
    await world?.close();
  });

  it('an operator speaks into the console; two speakers behind 4G links play it in step; one cut for 5 s rejoins; the report lists both', async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, locale: 'vi-VN', timezoneId: 'Asia/Ho_Chi_Minh' });
    // What the page sends on the feed socket: each frame's index, packet, and when it left.
    const sent = new Map<number, Buffer>();
    const sentAt: number[] = [];
    page.on('websocket', (ws) => {
      ws.on('framesent', ({ payload }) => {
        if (typeof payload === 'string') return;
        const index = payload.readUInt32BE(0);
        sent.set(index, payload.subarray(4));
        sentAt[index] = performance.timeOrigin + performance.now();
      });
    });
    const base = `http://127.0.0.1:${world.server.httpPort}`;
    await page.goto(base);
    await page.getByLabel('Tên đăng nhập').fill('van-hanh');
    await page.getByLabel('Mật khẩu').fill(PASSWORD);
    await page.getByRole('button', { name: 'Đăng nhập' }).click();
    await page.getByRole('link', { name: 'Phát trực tiếp' }).click();
    await page.getByRole('checkbox', { name: /Xã Hải An/ }).check();
    await page.getByText('2 loa sẽ phát.').waitFor();
    await page.getByLabel('Tiêu đề').fill('Thông báo họp thôn');
    await page.screenshot({ path: join(SHOTS, 'live-compose.png') });

    await page.getByRole('button', { name: 'Bắt đầu phát trực tiếp' }).click();
    await page.getByTestId('live-state').filter({ hasText: 'Đang phát trực tiếp' }).waitFor({ timeout: 10_000 });
    const onAirAt = performance.timeOrigin + performance.now();
    // Both speakers play it, as the page shows; the microphone's level moves.
    await page.locator('tr[data-state="playing"]').nth(1).waitFor({ timeout: 10_000 });
    await expect.poll(async () => Number(await page.getByTestId('mic-level').getAttribute('aria-valuenow')), { timeout: 5000 }).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'live-on-air.png') });

    // Speaker B's link is cut 6 s in, for 5 s.
    await new Promise((r) => setTimeout(r, Math.max(0, onAirAt + 6000 - (performance.timeOrigin + performance.now()))));
    const cutAt = performance.timeOrigin + performance.now();
    links[1]!.cut();
    await new Promise((r) => setTimeout(r, 5000));
    links[1]!.restore();
    const restoredAt = performance.timeOrigin + performance.now();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SHOTS, 'live-on-air-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1366, height: 768 });

    // The recording has been said (it is about 25 s long); then "Kết thúc" ends it everywhere.
    const source = pcmOf(wav);
    await new Promise((r) => setTimeout(r, Math.max(0, onAirAt + (source.length / 48) + 2000 - (performance.timeOrigin + performance.now()))));
    await page.getByRole('button', { name: 'Kết thúc' }).click();
    await page.getByRole('button', { name: 'Bắt đầu phát trực tiếp' }).waitFor({ timeout: 10_000 });
    await page.getByRole('link', { name: 'Xem báo cáo buổi vừa phát' }).click();
    const report = page.getByTestId('live-report');
    await expect.poll(async () => {
      await page.reload();
      await report.waitFor();
      return report.locator('tbody tr').count();
    }, { timeout: 30_000, interval: 1000 }).toBe(2);
    await page.getByTestId('live-recording').waitFor({ timeout: 30_000 }).catch(() => undefined);
    await page.screenshot({ path: join(SHOTS, 'live-report.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(SHOTS, 'live-report-phone.png'), fullPage: true });
    expect(await report.locator('tbody th').allTextContents()).toEqual(expect.arrayContaining(['Loa thôn Đông', 'Loa thôn Tây']));

    // What the browser sent, decoded: the recording, through the microphone's processing (kept
    // in test-output/ to listen to).
    const sentPcm = decodeFrames(sent);
    writeFileSync(join(SHOTS, '..', 'live-chromium-sent.wav'), wavOf(sentPcm));
    const throughBrowser = recordingIn(source, sentPcm);
    const sessionId = page.url().split('/').at(-1)!;
    const [a, b] = processes as [AgentProcess, AgentProcess];
    const cutFrame = sentAt.findIndex((t) => t !== undefined && t >= cutAt);
    const r = analyseTwoSpeakers(sentPcm, sentAt, sinkOf(a.sinkDir, livePlayId(sessionId)), sinkOf(b.sinkDir, livePlayId(sessionId)), cutFrame, restoredAt);
    const summary = `live in Chromium: ${sent.size} frames sent; the recording in what the browser sent: correlation ${throughBrowser.correlation.toFixed(3)} per second (${throughBrowser.matched} of ${throughBrowser.windows} seconds matched, its place moved ${throughBrowser.movedMs.toFixed(1)} ms; one lag for all: ${throughBrowser.whole.correlation.toFixed(3)}); ${describeTwoSpeakers(r)}`;
    console.log(summary);
    writeFileSync(join(SHOTS, '..', 'live-chromium.txt'), `${summary}\n`);
    expect(throughBrowser.correlation).toBeGreaterThan(0.5);
    expectTwoSpeakersInStep(r);
  }, 120_000);
});
