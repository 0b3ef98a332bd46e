/**
 * `loalang demo`: a server plus N simulated speaker clusters in two communes, demo content
 * (spoken Vietnamese through espeak-ng where installed, else tones) and a bulletin that
 * plays within the first minute. Each device has a simulated amplifier board and writes
 * what it plays as WAV files under the data folder.
 */
import { intOption, parse, waitForSignal } from './util.js';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { serverSettingsFromEnv, startServer, type RunningServer } from '@loalang/console';
import { makeDemoAudio } from './demo-audio.js';
import { startDemoAgents, type DemoAgent } from './demo-agents.js';
import { assertPortFree, takeDemoLock, type DemoLock } from './demo-lock.js';

const COMMUNES = ['Xã An Bình', 'Xã Hòa Lạc'];
/** CAP geocodes of the demo communes, and the sender docs/examples/cap-storm-demo.xml uses. */
const GEOCODES = ['demo-an-binh', 'demo-hoa-lac'];
const DEMO_CAP_SENDER = 'demo@loalang.local';
const FIRST_PLAY_DELAY_MS = 20_000;
/** The demo listens on loopback only. */
const HOST = '127.0.0.1';

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    devices: { type: 'string', default: '3' },
    data: { type: 'string', default: './data' },
    'http-port': { type: 'string', default: '8080' },
    'mqtt-port': { type: 'string', default: '1883' },
  });
  const count = intOption(values.devices, 'devices');
  const httpPort = intOption(values['http-port'], 'http-port');
  const mqttPort = intOption(values['mqtt-port'], 'mqtt-port');
  const root = resolve(String(values.data));
  const dataDir = join(root, 'demo');
  // Nothing is touched while another demo holds the folder or a port is taken (issue 14).
  await mkdir(root, { recursive: true });
  const lock = await takeDemoLock(root);
  try {
    await assertPortFree(HOST, httpPort);
    await assertPortFree(HOST, mqttPort);
    return await runDemo({ count, httpPort, mqttPort, dataDir, lock });
  } finally {
    await lock.release();
  }
}

async function runDemo(o: { count: number; httpPort: number; mqttPort: number; dataDir: string; lock: DemoLock }): Promise<number> {
  const { count, dataDir } = o;
  // The demo starts clean each time: a fresh database, so a fresh admin password to print.
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const logger = pino({ level: process.env['LOALANG_LOG_LEVEL'] ?? 'warn' });
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const server = await startServer({
    dataDir,
    httpPort: o.httpPort,
    mqttPort: o.mqttPort,
    host: HOST,
    publicHost: '127.0.0.1',
    logger,
    // Only the demo allows a CAP sender without configuration (it listens on loopback only).
    settings: { ...serverSettingsFromEnv(), capSenders: serverSettingsFromEnv().capSenders ?? [DEMO_CAP_SENDER] },
  });
  let agents: DemoAgent[] = [];
  try {
    const { core } = server;
    const admin = (await core.users.list()).find((u) => u.username === 'admin');
    if (!admin) throw new Error('admin user missing after bootstrap');
    const communes = [];
    for (const [i, name] of COMMUNES.entries()) communes.push(await core.areas.create({ name, parentId: admin.areaId, geocodes: [GEOCODES[i]!] }));

    const audio = await makeDemoAudio(core, join(dataDir, 'tmp'));
    const content = await core.library.importAudio(audio.path, { title: audio.title, areaId: admin.areaId, originalName: null, createdBy: admin.id });

    agents = await startDemoAgents({ server, count, communes, dataDir, logger });
    const start = new Date(Date.now() + FIRST_PLAY_DELAY_MS);
    const schedule = await core.schedules.create({
      title: 'Bản tin thử nghiệm / Demo bulletin',
      areaId: admin.areaId,
      priority: 'normal',
      start: start.toISOString(),
      items: [{ contentId: content.id }],
      targets: { areaIds: communes.map((c) => c.id), deviceIds: [] },
      volume: 80,
      recurrence: null, repeat: { count: 1, gapSec: 0 },
      createdBy: admin.id,
      approvedBy: admin.id,
    });
    await core.refreshDevices((await core.devices.list()).map((d) => d.id));
    await o.lock.describe(`${server.urls.http}/`);

    printBanner(out, server, { count, audio: audio.kind, durationMs: content.durationMs, start, sinkRoot: join(dataDir, 'sink'), communeId: communes[0]!.id, contentId: core.media.tools.espeak ? null : content.id });
    const watch = watchReports(server, schedule.id, agents, out);
    const names = new Map(agents.map((a) => [a.deviceId, a.name]));
    core.alerts.on('alert', (a) => out(`  ⚠ cảnh báo / alert "${a.title}": ${a.state}`));
    core.alerts.on('delivery', (e) => out(`  ⚠ ${names.get(e.deviceId) ?? e.deviceId}: ${e.state}${e.played ? `, ${e.played} played` : ''}${e.reason ? ` (${e.reason})` : ''}`));
    await waitForSignal();
    clearInterval(watch);
    out('Đang dừng… / Stopping…');
    return 0;
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await server.stop();
  }
}

function printBanner(
  out: (l: string) => void,
  server: RunningServer,
  /** contentId: without a speech engine, the alert example sends the demo recording instead of text. */
  info: { count: number; audio: string; durationMs: number; start: Date; sinkRoot: string; communeId: string; contentId: string | null },
): void {
  const pw = server.bootstrap.generatedPassword ?? '(LOALANG_ADMIN_PASSWORD)';
  const local = info.start.toLocaleTimeString('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' });
  out('');
  out('LoaLang demo');
  out(`  console:      ${server.urls.http}/`);
  out(`  api:          ${server.urls.http}/api/v1   (OpenAPI: ${server.urls.http}/api/docs)`);
  out(`  mqtt:         ${server.urls.mqtt}`);
  out(`  admin login:  admin / ${pw}`);
  out(`  speakers:     ${info.count} simulated (${COMMUNES.join(', ')})`);
  out(`  bulletin:     ${info.audio}, ${(info.durationMs / 1000).toFixed(1)} s, plays at ${local} (Asia/Ho_Chi_Minh) = ${info.start.toISOString()}`);
  out(`  audio out:    ${info.sinkRoot}/<speaker>/<playId>.wav`);
  out(`  reports:      curl -H "Authorization: Bearer $TOKEN" ${server.urls.http}/api/v1/reports`);
  out(`  alert:        curl -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' ${server.urls.http}/api/v1/alerts \\`);
  const what = info.contentId ? `"contentId":"${info.contentId}"` : '"text":"Bão số 3 đang đổ bộ, bà con không ra khơi."';
  out(`                  -d '{${what},"targets":{"areaIds":["${info.communeId}"],"deviceIds":[]}}'`);
  if (info.contentId) out('  CAP:          needs a speech engine to read the message out (apt-get install espeak-ng)');
  else out(`  CAP:          curl -H "Authorization: Bearer $TOKEN" -H 'content-type: application/cap+xml' --data-binary @docs/examples/cap-storm-demo.xml ${server.urls.http}/api/v1/alerts/cap`);
  out('Nhấn Ctrl+C để dừng. / Press Ctrl+C to stop.');
  out('');
}

function watchReports(server: RunningServer, scheduleId: string, agents: DemoAgent[], out: (l: string) => void): NodeJS.Timeout {
  const seen = new Set<string>();
  const names = new Map(agents.map((a) => [a.deviceId, a.name]));
  let announced = false;
  const check = async () => {
    const reports = (await server.core.reports.query({})).filter((r) => r.scheduleId === scheduleId);
    for (const r of reports) {
      if (seen.has(r.reportId)) continue;
      seen.add(r.reportId);
      const late = r.startedAt ? Date.parse(r.startedAt) - Date.parse(r.scheduledAt) : NaN;
      out(
        `  ▶ ${names.get(r.deviceId) ?? r.deviceId}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, ${(r.playedMs / 1000).toFixed(1)} s` +
          (Number.isFinite(late) ? `, started ${late} ms after the scheduled instant` : ''),
      );
    }
    const completed = reports.filter((r) => r.status === 'completed').length;
    if (!announced && completed === agents.length) {
      announced = true;
      out(`Cả ${completed} loa đã phát xong bản tin. / All ${completed} speakers played the bulletin: GET /api/v1/reports lists the plays.`);
    }
  };
  return setInterval(() => {
    check().catch((err: unknown) => out(`  ! Không đọc được báo cáo / reading the reports failed: ${String(err)}`));
  }, 500);
}
