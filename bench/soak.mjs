// Issue 19, the soak: one `loalang server` process (SQLite, defaults) runs a province of N simulated
// speakers (bench/soak-worker.mjs: raw MQTT clients speaking the real protocol, in worker
// processes) for an hour. Every speaker sends health every minute; a programme on the whole
// province (cron, every 20 minutes) makes every speaker play and report three times an hour, the
// server rolling each one's 48-hour programme forward as the hours pass; three consoles watch the
// live feed (GET /api/v1/events). Every 10 s it samples the server's RSS and CPU, its event-loop
// delay (p99 of the window, from /metrics) and the SQLite file and WAL sizes. Printed: the RSS
// slope over the run's last two thirds (a leak shows as a steady climb), event-loop lag p99, the
// database's growth, and whether every report was stored once.
//   node bench/soak.mjs                (N=10000 MINUTES=60 WORKERS=4 CRON='*/20 * * * *' to change)
//   LOALANG_BENCH_SMOKE=1: 40 speakers for 1 minute, three passes of one schedule (checks it still runs).
import { fork, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqlite } from '../protocol/dist/index.js';
import { freePort } from '../test-kit/src/free-port.mjs';
import { callWorker } from './lib/worker-rpc.mjs';
import { cleanUpOnCrash, cpuOf, rssOf, seedDevices } from './lib/fleet-seed.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 40 : 10_000));
const WORKERS = Number(process.env.WORKERS ?? (SMOKE ? 1 : 4));
const MINUTES = Number(process.env.MINUTES ?? (SMOKE ? 1 : 60));
const CRON = process.env.CRON ?? '*/20 * * * *';
const CONSOLES = 3;
const TELEMETRY_MS = 60_000;
const SAMPLE_MS = SMOKE ? 2000 : 10_000;
const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (b) => (b / 1048576).toFixed(1);
const sizeOf = (file) => (existsSync(file) ? statSync(file).size : 0);
/** Least-squares slope of y over x. */
const slope = (xs, ys) => {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const num = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
  const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-soak-'));
const PASSWORD = 'mat-khau-bench-ngam-lau';
const ports = { http: await freePort(), mqtt: await freePort() };
const children = [];
const cleanUp = cleanUpOnCrash(children, dir);

const server = spawn(process.execPath, [CLI, 'server', '--data', dir, '--http-port', String(ports.http), '--mqtt-port', String(ports.mqtt), '--host', '127.0.0.1', '--plaintext'], {
  env: { ...process.env, LOALANG_ADMIN_PASSWORD: PASSWORD, LOALANG_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
children.push(server);
let serverOut = '';
let warnings = 0;
const warned = new Map();
await new Promise((resolve, reject) => {
  const onData = (d) => {
    serverOut = (serverOut + d.toString()).slice(-50_000);
    // Every warning or error the server logs during the soak is counted, by message.
    for (const line of d.toString().split('\n')) {
      const m = /^\{.*"level":(\d+).*"msg":"([^"]*)"/.exec(line);
      if (m && Number(m[1]) >= 40) {
        warnings++;
        warned.set(m[2], (warned.get(m[2]) ?? 0) + 1);
      }
    }
    if (/api:\s+http/.test(serverOut)) resolve();
  };
  server.stdout.on('data', onData);
  server.stderr.on('data', onData);
  server.once('exit', (code) => reject(new Error(`the server exited ${code}: ${serverOut}`)));
});
const base = `http://127.0.0.1:${ports.http}/api/v1`;
const token = (await (await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) })).json()).token;
const auth = { authorization: `Bearer ${token}` };
const province = (await (await fetch(`${base}/areas`, { headers: auth })).json())[0];

// N devices straight into the server's SQLite file (one secret hashed once), as the other benches do.
const devices = await seedDevices(join(dir, 'loalang.db'), N, 'soak', province.id);

const workers = Array.from({ length: WORKERS }, () => fork(fileURLToPath(new URL('./soak-worker.mjs', import.meta.url)), { stdio: 'inherit' }));
children.push(...workers);
const split = (list) => workers.map((_, i) => list.filter((_, j) => j % WORKERS === i));
const c0 = Date.now();
const connected = await Promise.all(split(devices).map((list, i) => callWorker(workers[i], { cmd: 'connect', url: `mqtt://127.0.0.1:${ports.mqtt}`, devices: list, telemetryMs: TELEMETRY_MS })));
console.log(`${N} speakers on ${WORKERS} worker processes connected in ${((Date.now() - c0) / 1000).toFixed(0)} s (${connected.reduce((n, r) => n + r.failed, 0)} failed)`);

// The programme: a 10-second bulletin to the whole province, on a cron.
const wav = join(dir, 'ban-tin.wav');
execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=10', '-ar', '16000', '-ac', '1', wav]);
const form = new FormData();
form.append('file', new Blob([readFileSync(wav)]), 'ban-tin.wav');
const content = await (await fetch(`${base}/content`, { method: 'POST', headers: auth, body: form })).json();
const scheduled = await fetch(`${base}/schedules`, {
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify({ title: 'Bản tin định kỳ', items: [{ contentId: content.id }], targets: { areaIds: [province.id], deviceIds: [] }, ...(SMOKE ? { start: new Date(Date.now() + 15_000).toISOString(), repeat: { count: 3, gapSec: 2 } } : { start: new Date().toISOString(), recurrence: { type: 'cron', cron: CRON } }) }),
});
if (scheduled.status !== 201) throw new Error(`schedule not created: ${scheduled.status} ${await scheduled.text()}`);

// Three consoles on the live feed, counting what reaches them.
const consoleBytes = Array(CONSOLES).fill(0);
const feeds = Array.from({ length: CONSOLES }, (_, i) => {
  const abort = new AbortController();
  void fetch(`${base}/events`, { headers: auth, signal: abort.signal })
    .then(async (res) => {
      for await (const chunk of res.body) consoleBytes[i] += chunk.length;
    })
    .catch(() => undefined);
  return abort;
});

// --- The soak -------------------------------------------------------------------------------------
const metric = (text, name) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
const samples = [];
const t0 = Date.now();
const cpu0 = cpuOf(server.pid);
const dbFile = join(dir, 'loalang.db');
const db0 = sizeOf(dbFile);
let lastReport = t0;
while (Date.now() - t0 < MINUTES * 60_000) {
  await sleep(SAMPLE_MS);
  const m0 = performance.now();
  const metrics = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
  samples.push({
    min: (Date.now() - t0) / 60_000,
    rss: rssOf(server.pid),
    cpuMs: cpuOf(server.pid),
    lagP99: metric(metrics, 'loalang_server_nodejs_eventloop_lag_p99_seconds') * 1000,
    lagMax: metric(metrics, 'loalang_server_nodejs_eventloop_lag_max_seconds') * 1000,
    heap: metric(metrics, 'loalang_server_nodejs_heap_size_used_bytes'),
    online: metric(metrics, 'loalang_mqtt_connected_clients'),
    scrapeMs: performance.now() - m0,
    db: sizeOf(dbFile),
    wal: sizeOf(`${dbFile}-wal`),
  });
  if (Date.now() - lastReport >= (SMOKE ? 10_000 : 5 * 60_000)) {
    lastReport = Date.now();
    const s = samples.at(-1);
    console.log(`  ${s.min.toFixed(0).padStart(3)} min: RSS ${mib(s.rss)} MiB, heap ${mib(s.heap)} MiB, lag p99 ${s.lagP99.toFixed(1)} ms, db ${mib(s.db)} MiB, WAL ${mib(s.wal)} MiB, online ${s.online}`);
  }
}
const elapsedMin = (Date.now() - t0) / 60_000;
const cpuMs = cpuOf(server.pid) - cpu0;
for (const f of feeds) f.abort();
const counts = (await Promise.all(workers.map((w) => callWorker(w, { cmd: 'counts' })))).reduce((a, c) => {
  for (const k of ['desired', 'reportsSent', 'reportsAcked', 'telemetry', 'reconnects', 'errors']) a[k] = (a[k] ?? 0) + c[k];
  return a;
}, {});
await sleep(5000); // reports sent in the last seconds are acknowledged
const acked = (await Promise.all(workers.map((w) => callWorker(w, { cmd: 'counts' })))).reduce((n, c) => n + c.reportsAcked, 0);

// --- Figures --------------------------------------------------------------------------------------
const later = samples.filter((s) => s.min >= elapsedMin / 3);
const rssSlope = slope(later.map((s) => s.min), later.map((s) => s.rss)) * 60; // bytes per hour
const heapSlope = slope(later.map((s) => s.min), later.map((s) => s.heap)) * 60;
const lags = samples.map((s) => s.lagP99).filter(Number.isFinite).sort((a, b) => a - b);
const walMax = Math.max(...samples.map((s) => s.wal));
const db = openSqlite(dbFile);
const stored = db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT device_id || play_id) AS d FROM reports').get();
const refused = db.prepare('SELECT COUNT(*) AS n FROM refused_reports').get().n;
db.close();
console.log(`soak: ${N} speakers, ${elapsedMin.toFixed(1)} min, programme ${SMOKE ? 'one schedule, 3 passes' : `'${CRON}'`}, health every ${TELEMETRY_MS / 1000} s, ${CONSOLES} consoles on the live feed`);
console.log(`  server RSS: ${mib(samples[0].rss)} → ${mib(samples.at(-1).rss)} MiB (max ${mib(Math.max(...samples.map((s) => s.rss)))}); slope over the last two thirds ${(rssSlope / 1048576).toFixed(1)} MiB/h; heap used slope ${(heapSlope / 1048576).toFixed(1)} MiB/h`);
console.log(`  event-loop delay p99 per ${SAMPLE_MS / 1000}-s window: median ${pct(lags, 50).toFixed(1)} ms, p95 ${pct(lags, 95).toFixed(1)} ms, worst ${lags.at(-1).toFixed(1)} ms (max single delay ${Math.max(...samples.map((s) => s.lagMax)).toFixed(0)} ms)`);
console.log(`  server CPU: ${(cpuMs / 1000).toFixed(0)} s = ${((cpuMs / (elapsedMin * 60_000)) * 100).toFixed(1)} % of one core`);
console.log(`  SQLite: ${mib(db0)} → ${mib(sizeOf(dbFile))} MiB; WAL at most ${mib(walMax)} MiB, ${mib(sizeOf(`${dbFile}-wal`))} MiB at the end`);
console.log(`  speakers: ${counts.telemetry} health messages, ${counts.desired} desired states taken, ${counts.reportsSent} reports sent, ${acked} acknowledged, ${stored.n} stored (${stored.d} distinct plays), ${refused} refused; ${counts.reconnects} reconnects, ${counts.errors} client errors`);
console.log(`  consoles: ${consoleBytes.map((b) => `${(b / 1024).toFixed(0)} KiB`).join(', ')} of live feed`);
console.log(`  server warnings and errors logged: ${warnings}${warned.size ? ` (${[...warned].map(([m, n]) => `${n} × ${m}`).join('; ')})` : ''}`);
const ok = stored.n === counts.reportsSent && stored.d === stored.n && acked === counts.reportsSent && counts.reportsSent > 0;
if (!ok) console.error('soak: reports lost or not acknowledged (see above)');

await Promise.all(workers.map((w) => callWorker(w, { cmd: 'end' })));
for (const w of workers) w.disconnect();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
cleanUp();
process.exit(ok ? 0 : 1);
