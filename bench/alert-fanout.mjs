// Alert fan-out (issue 5). Simulated speakers are raw MQTT clients speaking the real protocol
// (device credentials, device and area subscriptions, `received` acknowledgements), spread over
// worker processes. For N = 1k, 5k, 10k: time from `POST /alerts` to each speaker's receipt and to
// the server holding every `received` (p50/p95/p99), and the broker's memory per connection. Then
// the same payload fanned out to the same N clients through Mosquitto (Debian's, started here on a
// loopback port) as the reference, and the ratio. First, the start spread of 100 in-process agents
// whose clocks are off by random amounts within ±200 ms.
//   node bench/alert-fanout.mjs            (SIZES=1000,5000 WORKERS=4 to change; SIZES= for the spread only)
//   LOALANG_BENCH_SMOKE=1: 10 agents for the spread, then 20 speakers on one worker (checks it still runs).
//   DATABASE=postgres: the server on PostgreSQL (a throwaway cluster, durability on) instead of SQLite.
//   PROFILE=<folder>: a CPU profile of the server's process (this one) from each POST until every
//   'received' is in, written there as alert-<N>.cpuprofile, and its heaviest functions printed.
// Without Mosquitto (apt-get install mosquitto) the reference is skipped and said so.
import { fork, spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';
import { hashSecret } from '../broker/dist/index.js';
import { Agent, parseAgentConfig } from '../edge-agent/dist/index.js';
import { createSimulatedAmplifier } from '../firmware-bridge/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';
import { startPostgres } from '../test-kit/src/postgres-cluster.mjs';
import { freePort } from '../test-kit/src/free-port.mjs';
import { callWorker } from './lib/worker-rpc.mjs';
import { startProfile } from './lib/cpu-profile.mjs';

if (typeof globalThis.gc !== 'function') {
  // Memory per connection is read after a full collection.
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

// SIZES= (empty) measures only the start spread.
const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const SIZES = (process.env.SIZES ?? (SMOKE ? '20' : '1000,5000,10000')).split(',').filter(Boolean).map(Number);
const WORKERS = Number(process.env.WORKERS ?? (SMOKE ? 1 : 4));
const SPREAD_AGENTS = SMOKE ? 10 : 100;
if (SMOKE) console.log('(smoke run: smallest sizes, figures not comparable)');
// Debian installs it in /usr/sbin, which is not on every user's PATH.
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((cmd) => spawnSync(cmd, ['-h'], { stdio: 'ignore' }).error === undefined) ?? null;
if (SIZES.length && !MOSQUITTO) console.log('mosquitto is not installed (apt-get install mosquitto): the Mosquitto reference is skipped');
const COMMUNES = 20;
const now = () => performance.timeOrigin + performance.now();
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const settle = (ms) => sleep(SMOKE ? Math.min(ms, 300) : ms); // a smoke run's handful of clients settle at once
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
async function settledRss() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await sleep(200);
  }
  return process.memoryUsage().rss;
}

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-alerts-'));
const cluster = process.env.DATABASE === 'postgres' ? await startPostgres({ durable: true }) : null;
console.log(`database: ${cluster ? 'postgres' : 'sqlite'}`);
const server = await startServer({ dataDir: dir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), settings: cluster ? { databaseUrl: await cluster.createDatabase('loalang_bench') } : {} });
const { core } = server;
const province = await core.areas.create({ name: 'Tỉnh', parentId: null });
const communes = [];
for (let i = 0; i < COMMUNES; i++) communes.push(await core.areas.create({ name: `Xã ${i}`, parentId: province.id }));
const PASSWORD = 'mat-khau-bench-alerts';
await core.users.create({ username: 'bench', password: PASSWORD, role: 'alert-staff', areaId: province.id });
const api = `http://127.0.0.1:${server.httpPort}/api/v1`;
const { token } = await (await fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }) })).json();
const post = async (path, body) => {
  const res = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
const wav = join(dir, 'tone.wav');
execFileSync(locateFfmpeg(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=660:duration=4', '-ar', '16000', '-ac', '1', wav]);
const content = await core.library.importAudio(wav, { title: 'Cảnh báo', areaId: province.id, originalName: null, createdBy: null });

// Deliveries seen by the server, per alert: count of `received` and when the last one came.
const received = new Map();
core.alerts.on('delivery', (e) => {
  if (e.state !== 'received') return;
  const r = received.get(e.alertId) ?? { n: 0, last: 0 };
  r.n++;
  r.last = now();
  received.set(e.alertId, r);
});

// --- 1. Start spread of 100 agents with clocks off by up to ±200 ms -----------------------------
{
  const area = await core.areas.create({ name: 'Xã đồng bộ', parentId: province.id });
  const agents = [];
  const starts = [];
  const shifts = [];
  const sink = {
    prepare: () => ({
      cancel: () => undefined,
      // The first sample is due `inMs` after the call (the player's pre-roll, decision 0009).
      start: (inMs = 0) => {
        starts.push(now() + inMs);
        let finish;
        const done = new Promise((r) => (finish = r));
        const t = setTimeout(() => finish({ playedMs: 500, stopped: false }), inMs + 500);
        return { done, stop: () => (clearTimeout(t), finish({ playedMs: 0, stopped: true })) };
      },
    }),
  };
  for (let i = 0; i < SPREAD_AGENTS; i++) {
    const { device, secret } = await core.devices.create({ name: `sync-${i}`, areaId: area.id });
    const shift = Math.round((Math.random() * 2 - 1) * 200);
    shifts.push(shift);
    const clock = { now: () => Date.now() + shift, setTimeout: (fn, ms) => ({ id: setTimeout(fn, Math.max(0, ms)) }), clearTimeout: (t) => clearTimeout(t.id) };
    const cfg = parseAgentConfig({ deviceId: device.id, password: secret, mqttUrl: `mqtt://127.0.0.1:${server.mqttPort}`, httpUrl: `http://127.0.0.1:${server.httpPort}`, cacheDir: join(dir, 'sync', String(i)), serial: { simulate: true }, audioSink: 'null', warmupMs: 100, tailMs: 500, serverKeys: core.signer.trusted() }, dir);
    const agent = await Agent.create(cfg, { amplifier: createSimulatedAmplifier(), sink, clock, exit: () => undefined });
    await agent.start();
    agents.push({ agent, id: device.id, shift });
  }
  const offsets = async () => Promise.all(agents.map(async (a) => (await core.devices.get(a.id))?.latestTelemetry?.clockOffsetMs));
  const deadline = Date.now() + 60_000;
  while ((await offsets()).some((o) => o === undefined) && Date.now() < deadline) await sleep(200);
  const measured = await offsets();
  const errors = agents.map((a, i) => Math.abs((measured[i] ?? NaN) - a.shift));
  const alert = await post('/alerts', { contentId: content.id, targets: { areaIds: [area.id], deviceIds: [] } });
  while (starts.length < SPREAD_AGENTS && Date.now() < deadline + 30_000) await sleep(100);
  const planned = Date.parse(alert.startAt);
  const lags = starts.map((s) => s - planned).sort((a, b) => a - b);
  console.log(`start spread, ${SPREAD_AGENTS} agents, clocks off by ${Math.min(...shifts)}…${Math.max(...shifts)} ms: spread ${fmt(lags.at(-1) - lags[0])} (p50 ${fmt(pct(lags, 50))}, p99 ${fmt(pct(lags, 99))} after the instant; ${starts.length}/${SPREAD_AGENTS} started); offset error max ${fmt(Math.max(...errors))}`);
  await Promise.all(agents.map((a) => a.agent.stop()));
}

// --- 2. Fan-out at N devices ---------------------------------------------------------------------
const workers = Array.from({ length: WORKERS }, () => fork(fileURLToPath(new URL('./alert-fanout-worker.mjs', import.meta.url)), { stdio: 'inherit' }));
const split = (list) => workers.map((_, i) => list.filter((_, j) => j % WORKERS === i));
const collect = async (key) => {
  const replies = await Promise.all(workers.map((w) => callWorker(w, { cmd: 'collect', key })));
  return { receipts: replies.flatMap((r) => r.receipts), payload: replies.find((r) => r.payload)?.payload ?? null };
};
const summary = (t0, receipts) => {
  const lat = receipts.map((r) => r - t0).sort((a, b) => a - b);
  return { n: lat.length, p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: lat.at(-1) };
};

// Mosquitto on a free loopback port, no persistence, anonymous (the reference does no auth work).
const mosqPort = await freePort();
let mosquitto = null;
let mosqPublisher = null;
if (MOSQUITTO && SIZES.length) {
  const mosqConf = join(dir, 'mosquitto.conf');
  writeFileSync(mosqConf, `listener ${mosqPort} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000\nlog_dest none\n`);
  mosquitto = spawn(MOSQUITTO, ['-c', mosqConf], { stdio: 'ignore' });
  await sleep(500);
  mosqPublisher = mqtt.connect(`mqtt://127.0.0.1:${mosqPort}`, { clientId: 'bench-publisher', reconnectPeriod: 0 });
  await new Promise((r, j) => (mosqPublisher.once('connect', r), mosqPublisher.once('error', j)));
}

const secret = 'bench-device-secret-0123456789';
const secretHash = await hashSecret(secret);
const devices = [];
const baseRss = await settledRss();
console.log(`fan-out: ${WORKERS} worker processes; alert audio ${content.sizeBytes} bytes (inline only while size × speakers ≤ 8 MiB, so at N ≥ 200 the message carries its URL); devices in ${COMMUNES} communes, alert to their province`);
for (const N of SIZES) {
  // Add devices up to N and connect them (first connects pay one argon2 check each).
  // Straight into the store (Kysely, one transaction, 500 rows a statement), all with one secret hashed once.
  const fresh = [];
  for (let i = devices.length; i < N; i++) fresh.push({ id: `bench-${i}`, secret, areaIds: [communes[i % COMMUNES].id, province.id] });
  await core.database.transaction().execute(async (trx) => {
    for (let from = 0; from < fresh.length; from += 500) {
      await trx.insertInto('devices').values(fresh.slice(from, from + 500).map((d, j) => ({ id: d.id, name: `Loa ${devices.length + from + j}`, area_id: d.areaIds[0], secret_hash: secretHash, created_at: new Date().toISOString() }))).execute();
    }
  });
  devices.push(...fresh);
  const c0 = now();
  const results = await Promise.all(split(fresh).map((list, i) => callWorker(workers[i], { cmd: 'connect', label: 'loalang', url: `mqtt://127.0.0.1:${server.mqttPort}`, devices: list, auth: true })));
  const failed = results.reduce((n, r) => n + r.failed, 0);
  while (core.mqtt.stats().connectedClients < N - failed) await sleep(100);
  await settle(2000); // desired states sent on subscribe settle
  const rss = await settledRss();
  console.log(`\nN=${N}: ${fresh.length} connected in ${((now() - c0) / 1000).toFixed(1)} s (${failed} failed); server RSS ${(rss / 1048576).toFixed(0)} MiB, ${((rss - baseRss) / N / 1024).toFixed(1)} KiB per connection (server + broker + console in one process)`);

  const stopProfile = process.env.PROFILE ? await startProfile() : null;
  const t0 = now();
  const alert = await post('/alerts', { contentId: content.id, targets: { areaIds: [province.id], deviceIds: [] } });
  const tPost = now() - t0;
  const deadline = Date.now() + 60_000;
  while ((received.get(alert.id)?.n ?? 0) < N - failed && Date.now() < deadline) await sleep(20);
  const serverAll = (received.get(alert.id)?.last ?? NaN) - t0;
  if (stopProfile) {
    const file = join(process.env.PROFILE, `alert-${N}.cpuprofile`);
    const { functions, packages } = await stopProfile(file);
    console.log(`  profile of the server's process, POST → every 'received' (${file}), self time by package:`);
    for (const f of packages.slice(0, 12)) console.log(`    ${f.ms.toFixed(1).padStart(8)} ms ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.site}`);
    console.log('  and by function:');
    for (const f of functions.slice(0, 25)) console.log(`    ${f.ms.toFixed(1).padStart(8)} ms ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.site}`);
  }
  await sleep(500);
  const ours = await collect(alert.id);
  const s = summary(t0, ours.receipts);
  console.log(`  LoaLang  POST /alerts → receipt at ${s.n}/${N}: p50 ${fmt(s.p50)}, p95 ${fmt(s.p95)}, p99 ${fmt(s.p99)}, max ${fmt(s.max)}; POST answered in ${fmt(tPost)}; server had all ${received.get(alert.id)?.n ?? 0} 'received' at ${fmt(serverAll)}`);
  await post(`/alerts/${alert.id}/cancel`, {});
  await settle(1000);

  if (!mosquitto) {
    console.log(`  Mosquitto reference skipped (not installed); p95 target ≤ 500 ms: ${s.p95 <= 500 ? 'met' : 'NOT met'}`);
    continue;
  }
  // The same payload, the same N clients, through Mosquitto.
  const mRss0 = rssOf(mosquitto.pid);
  const mosqDevices = devices.map((d) => ({ ...d, id: `m${d.id}` }));
  await Promise.all(split(mosqDevices).map((list, i) => callWorker(workers[i], { cmd: 'connect', label: 'mosq', url: `mqtt://127.0.0.1:${mosqPort}`, devices: list, auth: false })));
  await settle(1000);
  const mRss = rssOf(mosquitto.pid);
  const key = `mosq-${N}`;
  const payload = (ours.payload ?? '{}').replace(/"alertId":"[^"]+"/, `"alertId":"${key}"`);
  const m0 = now();
  mosqPublisher.publish(`loalang/v1/area/${province.id}/alert`, payload, { qos: 0 });
  await sleep(Math.max(SMOKE ? 1000 : 2000, s.max * 2));
  const ref = summary(m0, (await collect(key)).receipts);
  console.log(`  Mosquitto publish → receipt at ${ref.n}/${N}: p50 ${fmt(ref.p50)}, p95 ${fmt(ref.p95)}, p99 ${fmt(ref.p99)}, max ${fmt(ref.max)}; RSS ${((mRss - mRss0) / N / 1024).toFixed(1)} KiB per connection`);
  console.log(`  ratio LoaLang / Mosquitto at p95: ${(s.p95 / ref.p95).toFixed(2)}× (target ≤ 1.5×; p95 target ≤ 500 ms: ${s.p95 <= 500 ? 'met' : 'NOT met'})`);
  await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close', label: 'mosq' })));
}

await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close', label: 'loalang' })));
for (const w of workers) w.send({ cmd: 'exit' });
await mosqPublisher?.endAsync();
mosquitto?.kill('SIGTERM');
await server.stop();
rmSync(dir, { recursive: true, force: true });
await cluster?.destroy();
