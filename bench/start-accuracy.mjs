// Start accuracy: 100 scheduled plays on one agent process (simulated board, null audio sink),
// served by a real server. For each play: actual start (when the agent hands the first samples
// to the already running output stage) minus planned start, from the agent's reports. Then,
// separately, the output stage's own latency, the part the report cannot see.
// N=100 plays by default; LOALANG_BENCH_SMOKE=1 runs 3 plays and 3 comparisons (checks it still runs).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';
import { pcmOutputArgs } from '../edge-agent/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 3 : 100));
const LEAD_MS = SMOKE ? 5000 : 20_000; // from the agent being online to the first play
const COMPARISONS = SMOKE ? 3 : 30;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const ffmpeg = locateFfmpeg(); // as the agent finds it: LOALANG_FFMPEG, PATH, else npm-shipped
const SPACING_MS = 1000;
const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-start-'));
process.env.LOALANG_ADMIN_PASSWORD ??= 'bench-admin-password';
const server = await startServer({ dataDir: join(dir, 'server'), httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
const { core } = server;
const admin = (await core.users.list())[0];
const area = await core.areas.create({ name: 'Xã đo thời gian', parentId: null });
const { device, secret } = await core.devices.create({ name: 'Loa đo', areaId: area.id });
const wav = join(dir, 'beep.wav');
execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=1000:duration=0.4', wav]);
const item = await core.library.importAudio(wav, { title: 'beep', areaId: area.id, originalName: null, createdBy: null });

const config = join(dir, 'agent.json');
writeFileSync(config, JSON.stringify({ deviceId: device.id, password: secret, mqttUrl: server.urls.mqtt, httpUrl: server.urls.http, cacheDir: join(dir, 'agent'), serial: { simulate: true }, audioSink: 'null', warmupMs: 500, tailMs: SMOKE ? 500 : 5000, serverKeys: core.signer.trusted() }));
const agent = spawn(process.execPath, [CLI, 'agent', '--config', config], { env: { ...process.env, LOALANG_LOG_LEVEL: 'warn' }, stdio: 'inherit' });
let exited = null;
agent.once('exit', (code, signal) => (exited = { code, signal }));
process.on('exit', () => exited || agent.kill('SIGKILL')); // never leave the agent behind on a failure
const agentDied = () => new Error(`the agent exited (${JSON.stringify(exited)}): nothing to measure`);
for (const deadline = Date.now() + 30_000; !(await core.devices.get(device.id))?.online; ) {
  if (exited) throw agentDied();
  if (Date.now() > deadline) throw new Error('the agent did not come online within 30 s');
  await new Promise((r) => setTimeout(r, 100));
}

const t0 = Date.now() + LEAD_MS;
for (let i = 0; i < N; i++) {
  await core.schedules.create({ title: `beep ${i}`, areaId: area.id, priority: 'normal', start: new Date(t0 + i * SPACING_MS).toISOString(), items: [{ contentId: item.id }], targets: { areaIds: [], deviceIds: [device.id] }, volume: null, recurrence: null, repeat: { count: 1, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id });
}
await core.refreshDevices([device.id]);
console.log(`${N} plays scheduled ${SPACING_MS} ms apart, first in ${LEAD_MS / 1000} s; waiting…`);

let reports = [];
while (reports.length < N) {
  await new Promise((r) => setTimeout(r, 1000));
  reports = await core.reports.query({ deviceIds: new Set([device.id]) });
  if (exited) throw agentDied();
  if (Date.now() > t0 + N * SPACING_MS + 60_000) break;
}
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, min ${xs[0].toFixed(1)}, max ${xs.at(-1).toFixed(1)}`;
const completed = reports.filter((r) => r.status === 'completed');
const offsets = completed.map((r) => Date.parse(r.startedAt) - Date.parse(r.scheduledAt)).sort((a, b) => a - b);
console.log(`reports: ${reports.length}, completed: ${completed.length}`);
if (offsets.length) console.log(`actual − planned start (agent's reports, 1 ms resolution): ${fmt(offsets)}`);
else process.exitCode = 1; // no play completed: nothing measured

// What the report cannot see: from the instant samples are handed over to the first sample
// out of ffmpeg. The agent's way (decision 0009): the output stage was spawned during the
// warm-up and waits on its stdin. For comparison, the old way: ffmpeg spawned at the instant.
const firstOut = (args, feed) =>
  new Promise((resolve) => {
    const p = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let t;
    p.stdout.once('data', () => {
      resolve(performance.now() - t);
      p.kill('SIGKILL');
    });
    p.stdin.on('error', () => undefined);
    setTimeout(() => {
      t = performance.now();
      if (feed) p.stdin.write(Buffer.alloc(9600, 1)); // 100 ms of samples, as the pacer's lead
    }, feed ? 500 : 0);
  });
const prespawned = [];
const atInstant = [];
const cached = core.media.contentPath(item.id);
for (let i = 0; i < COMPARISONS; i++) {
  prespawned.push(await firstOut(pcmOutputArgs(['-f', 's16le', '-flush_packets', '1', 'pipe:1']), true));
  atInstant.push(await firstOut(['-hide_banner', '-nostdin', '-v', 'error', '-re', '-i', cached, '-f', 's16le', '-flush_packets', '1', 'pipe:1'], false));
}
prespawned.sort((a, b) => a - b);
atInstant.sort((a, b) => a - b);
console.log(`samples handed to the pre-spawned output → first sample out: ${fmt(prespawned)}`);
console.log(`(for comparison) ffmpeg spawned at the instant → first sample out: ${fmt(atInstant)}`);

agent.kill('SIGTERM');
if (!exited) await new Promise((r) => agent.once('exit', r));
await server.stop();
rmSync(dir, { recursive: true, force: true });
