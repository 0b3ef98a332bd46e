// Several server nodes (issue 17). Two `loalang server` processes share one PostgreSQL (a throwaway
// cluster, durability on) and one Redis (Debian's redis-server), with N simulated speakers (raw
// MQTT clients speaking the real protocol, in worker processes) split evenly over them:
//   1. memory per connection on each node (RSS after / before, per connection held);
//   2. an alert to all N, issued on node 1: POST → each speaker's receipt (p50/p95/p99), against the
//      same payload fanned out to the same N clients by Mosquitto in the same run;
//   3. node 2 is killed (SIGKILL): its speakers reconnect to node 1 with an agent's jittered backoff;
//      time until each is back (connected and subscribed), node 1's CPU meanwhile, and how many
//      argon2 checks that cost (none expected: the device MAC written at first connect is shared).
//   node bench/cluster-fanout.mjs           (N=20000 WORKERS=4 MOVING=10000 to change; MOVING: how many start on node 2)
//   LOALANG_BENCH_PROFILE=/tmp/prof: a CPU profile of node 1 (the one that issues the alert).
//   LOALANG_BENCH_SMOKE=1: 40 speakers on one worker (checks it still runs; figures not comparable).
// Without redis-server or PostgreSQL it says so and stops; without Mosquitto the reference is skipped.
import { fork, spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import pg from 'pg';
import { hashSecret } from '../broker/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';
import { postgresSkipReason, startPostgres } from '../test-kit/src/postgres-cluster.mjs';
import { redisSkipReason, startRedis } from '../test-kit/src/redis-server.mjs';
import { freePort } from '../test-kit/src/free-port.mjs';
import { callWorker } from './lib/worker-rpc.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 40 : 20_000));
const WORKERS = Number(process.env.WORKERS ?? (SMOKE ? 1 : 4));
/** How many of the N start on node 2, and so move when it is killed. */
const MOVING = Number(process.env.MOVING ?? Math.floor(N / 2));
if (!(Number.isInteger(MOVING) && MOVING >= 1 && MOVING < N)) throw new RangeError('MOVING: 1 to N - 1 speakers');
const COMMUNES = 20;
const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const missing = redisSkipReason() ?? postgresSkipReason();
if (missing) {
  console.log(`skipped: ${missing}`);
  process.exit(0);
}
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((cmd) => spawnSync(cmd, ['-h'], { stdio: 'ignore' }).error === undefined) ?? null;
if (!MOSQUITTO) console.log('mosquitto is not installed (apt-get install mosquitto): the Mosquitto reference is skipped');

const now = () => performance.timeOrigin + performance.now();
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
// utime + stime of a process, in ms (clock ticks of 10 ms on Linux).
const cpuOf = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

// After the kill node 1 holds every speaker: past this process's open-file limit (which the nodes
// inherit) it cannot accept them all, whatever LoaLang does.
const openFiles = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Infinity);
if (N + 500 > openFiles) console.log(`note: open-file limit ${openFiles} (ulimit -n): node 1 cannot hold all ${N} speakers after the kill; use N ≤ ${openFiles - 500} or raise the limit`);
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-cluster-'));
const postgres = await startPostgres({ durable: true });
const redis = await startRedis();
// Whatever stops the bench, nothing it started is left running (nodes, workers, Mosquitto, Redis, PostgreSQL).
const children = [];
let cleaned = false;
async function cleanUp() {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis.destroy().catch(() => undefined);
  await postgres.destroy().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
const nodes = [];
process.on('uncaughtException', (err) => {
  console.error(err);
  // What each node logged (errors only), and whether it was still running.
  for (const [i, n] of nodes.entries()) console.error(`node ${i + 1} (${n.child.exitCode === null && n.child.signalCode === null ? 'running' : `exited ${n.child.exitCode ?? n.child.signalCode}`}), its last errors:\n${n.out.split('\n').slice(-10).join('\n')}`);
  void cleanUp().finally(() => process.exit(1));
});
const databaseUrl = await postgres.createDatabase('loalang_cluster');
const PASSWORD = 'mat-khau-bench-cum';
const ports = [];
for (let i = 0; i < 2; i++) ports.push({ http: await freePort(), mqtt: await freePort() });
for (const [i, p] of ports.entries()) {
  // LOALANG_BENCH_PROFILE=DIR: node 1 writes a CPU profile there when it stops (open it in Chrome's DevTools).
  const profile = process.env.LOALANG_BENCH_PROFILE && i === 0 ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOALANG_BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, CLI, 'server', '--data', dir, '--http-port', String(p.http), '--mqtt-port', String(p.mqtt), '--host', '127.0.0.1', '--plaintext'], {
    env: { ...process.env, LOALANG_ADMIN_PASSWORD: PASSWORD, LOALANG_LOG_LEVEL: 'error', LOALANG_DATABASE_URL: databaseUrl, LOALANG_REDIS_URL: redis.url, LOALANG_CLUSTER_SECRET: 'bench-cluster-secret-0123456789', LOALANG_NODE_ID: `node-${i + 1}`, LOALANG_PUBLIC_HTTP_URL: `http://127.0.0.1:${ports[0].http}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const node = { child, base: `http://127.0.0.1:${p.http}/api/v1`, mqtt: `mqtt://127.0.0.1:${p.mqtt}`, out: '' };
  await new Promise((resolve, reject) => {
    // The node's log (errors only) is kept, its last 20 KB, to say what went wrong.
    child.stdout.on('data', (d) => {
      node.out = (node.out + d.toString()).slice(-20_000);
      if (/api:\s+http/.test(node.out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`node ${i + 1} exited ${code}: ${node.out}`)));
  });
  nodes.push(node);
}
const api = async (node, path, body, token) => {
  const res = await fetch(`${node.base}${path}`, { method: body ? 'POST' : 'GET', headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}\nthe node's log:\n${node.out.split('\n').filter((l) => l.includes('"level":50')).slice(-5).join('\n')}`);
  return res.json();
};
const { token } = await api(nodes[0], '/auth/login', { username: 'admin', password: PASSWORD });
const province = (await api(nodes[0], '/areas', null, token))[0];
const communes = [];
for (let i = 0; i < COMMUNES; i++) communes.push(await api(nodes[0], '/areas', { name: `Xã ${i}`, parentId: province.id }, token));
const wav = join(dir, 'tone.wav');
execFileSync(locateFfmpeg(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=660:duration=4', '-ar', '16000', '-ac', '1', wav]);
const form = new FormData();
form.append('file', new Blob([readFileSync(wav)]), 'tone.wav');
const content = await (await fetch(`${nodes[0].base}/content`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })).json();

// N devices straight into the shared database (one secret hashed once), half of them on each node.
const secret = 'bench-device-secret-0123456789';
const secretHash = await hashSecret(secret);
// Node 2 holds MOVING of them (half by default), spread evenly among node 1's.
const devices = Array.from({ length: N }, (_, i) => ({ id: `bench-${i}`, secret, areaIds: [communes[i % COMMUNES].id, province.id], node: Math.floor(((i + 1) * MOVING) / N) - Math.floor((i * MOVING) / N) }));
const db = new pg.Client({ connectionString: databaseUrl });
await db.connect();
for (let from = 0; from < N; from += 1000) {
  const rows = devices.slice(from, from + 1000);
  await db.query('INSERT INTO devices (id, name, area_id, secret_hash, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])', [rows.map((d) => d.id), rows.map((d) => `Loa ${d.id}`), rows.map((d) => d.areaIds[0]), rows.map(() => secretHash), rows.map(() => new Date().toISOString())]);
}

const workers = Array.from({ length: WORKERS }, () => fork(fileURLToPath(new URL('./alert-fanout-worker.mjs', import.meta.url)), { stdio: 'inherit' }));
children.push(...workers);
const split = (list) => workers.map((_, i) => list.filter((_, j) => j % WORKERS === i));
const collect = async (key) => (await Promise.all(workers.map((w) => callWorker(w, { cmd: 'collect', key })))).flatMap((r) => r.receipts);
const summary = (t0, times) => {
  const lat = times.map((r) => r - t0).sort((a, b) => a - b);
  return { n: lat.length, p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: lat.at(-1) };
};
// Asked again on a failed fetch: a keep-alive connection left idle past the node's timeout while
// it was busy with a reconnect storm may be closed just as it is reused ("other side closed").
const connected = async (node, tries = 3) => {
  try {
    return Number(/^loalang_mqtt_connected_clients (\d+)/m.exec(await (await fetch(`${node.base.replace('/api/v1', '')}/metrics`)).text())?.[1] ?? 0);
  } catch (err) {
    if (tries <= 1) throw err;
    await sleep(1000);
    return connected(node, tries - 1);
  }
};

// --- 1. Connect, and memory per connection ---------------------------------------------------------
const rss0 = nodes.map((n) => rssOf(n.child.pid));
const c0 = now();
const urls = nodes.map((n) => n.mqtt);
const results = await Promise.all(split(devices.map((d) => ({ ...d, url: urls[d.node] }))).map((list, i) => callWorker(workers[i], { cmd: 'connect', label: 'loalang', devices: list, auth: true, failover: urls })));
const failed = results.reduce((n, r) => n + r.failed, 0);
while ((await connected(nodes[0])) + (await connected(nodes[1])) < N - failed) await sleep(200);
const connectSec = (now() - c0) / 1000;
await sleep(SMOKE ? 300 : 3000); // desired states sent on subscribe settle
const held = await Promise.all(nodes.map(connected));
const rss1 = nodes.map((n) => rssOf(n.child.pid));
console.log(`${N} speakers over 2 nodes (PostgreSQL + Redis), ${WORKERS} worker processes: connected in ${connectSec.toFixed(1)} s (${failed} failed; the first connect of each device costs one argon2 check in the cluster)`);
nodes.forEach((n, i) => console.log(`  node ${i + 1}: ${held[i]} connections, RSS ${(rss1[i] / 1048576).toFixed(0)} MiB, ${((rss1[i] - rss0[i]) / Math.max(1, held[i]) / 1024).toFixed(1)} KiB per connection`));

// --- 2. Alert to all N, issued on node 1 ----------------------------------------------------------
const t0 = now();
const alert = await api(nodes[0], '/alerts', { contentId: content.id, targets: { areaIds: [province.id], deviceIds: [] } }, token);
const tPost = now() - t0;
// Until every connected speaker has it, or 60 s.
const expected = held[0] + held[1];
const received = async () => (await Promise.all(workers.map((w) => callWorker(w, { cmd: 'count', key: alert.id })))).reduce((n, r) => n + r.n, 0);
for (const until = Date.now() + 60_000; Date.now() < until && (await received()) < expected; ) await sleep(200);
await sleep(500);
const ours = summary(t0, await collect(alert.id));
console.log(`  alert to ${N}: receipt at ${ours.n}/${expected} connected: p50 ${fmt(ours.p50)}, p95 ${fmt(ours.p95)}, p99 ${fmt(ours.p99)}, max ${fmt(ours.max)}; POST answered in ${fmt(tPost)} (p95 target ≤ 500 ms: ${ours.p95 <= 500 ? 'met' : 'NOT met'})`);
// Ended before the next round; a failure here is reported (with the node's log) and the bench goes on.
await api(nodes[0], `/alerts/${alert.id}/cancel`, {}, token).catch((err) => console.log(`  cancelling the alert failed: ${err.message}`));
await sleep(1000);

if (MOSQUITTO) {
  const mosqPort = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${mosqPort} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000\nlog_dest none\n`);
  const mosquitto = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  children.push(mosquitto);
  await sleep(500);
  const publisher = mqtt.connect(`mqtt://127.0.0.1:${mosqPort}`, { clientId: 'bench-publisher', reconnectPeriod: 0 });
  await new Promise((r, j) => (publisher.once('connect', r), publisher.once('error', j)));
  const mosqDevices = devices.map((d) => ({ ...d, id: `m${d.id}`, url: undefined }));
  await Promise.all(split(mosqDevices).map((list, i) => callWorker(workers[i], { cmd: 'connect', label: 'mosq', url: `mqtt://127.0.0.1:${mosqPort}`, devices: list, auth: false })));
  await sleep(SMOKE ? 300 : 2000);
  const key = 'mosq-reference';
  const m0 = now();
  publisher.publish(`loalang/v1/area/${province.id}/alert`, JSON.stringify({ alertId: key }), { qos: 0 });
  await sleep(Math.max(2000, ours.max * 2));
  const ref = summary(m0, await collect(key));
  console.log(`  Mosquitto, the same ${N} clients on one broker: p50 ${fmt(ref.p50)}, p95 ${fmt(ref.p95)}, p99 ${fmt(ref.p99)}, max ${fmt(ref.max)}; ratio at p95 ${(ours.p95 / ref.p95).toFixed(2)}×`);
  await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close', label: 'mosq' })));
  await publisher.endAsync();
  mosquitto.kill('SIGTERM');
}

// --- 3. Node 2 killed: its speakers move to node 1 ------------------------------------------------
const moving = held[1];
const argon2Before = Number((await db.query("SELECT count(*) AS n FROM devices WHERE auth_mac IS NOT NULL")).rows[0].n);
const cpu0 = cpuOf(nodes[0].child.pid);
const k0 = now();
nodes[1].child.kill('SIGKILL');
const deadline = Date.now() + 120_000;
const back = [];
const failedWhy = new Map(); // why attempts failed, summed over the workers
while (back.length < moving && Date.now() < deadline) {
  await sleep(500);
  failedWhy.clear();
  for (const r of await Promise.all(workers.map((w) => callWorker(w, { cmd: 'returns' })))) {
    back.push(...r.returns);
    for (const [why, n] of Object.entries(r.failures ?? {})) failedWhy.set(why, (failedWhy.get(why) ?? 0) + n);
  }
}
const cpuMs = cpuOf(nodes[0].child.pid) - cpu0;
const took = summary(k0, back);
const allBackSec = ((back.length ? Math.max(...back) : now()) - k0) / 1000;
const onOne = await connected(nodes[0]).catch((err) => `an unknown number (its /metrics did not answer: ${err.cause?.code ?? err.message})`);
console.log(`  node 2 killed: ${back.length}/${moving} of its speakers back on node 1, the last at ${allBackSec.toFixed(1)} s (target ≤ 60 s: ${back.length === moving && allBackSec <= 60 ? 'met' : 'NOT met'}); p50 ${(took.p50 / 1000).toFixed(1)} s, p95 ${(took.p95 / 1000).toFixed(1)} s; node 1 holds ${onOne}`);
const portOf = (url) => new URL(url).port;
const failedText = [...failedWhy].sort((a, b) => b[1] - a[1]).map(([why, n]) => `${n} × ${why.replace(portOf(nodes[0].mqtt), 'node 1').replace(portOf(nodes[1].mqtt), 'node 2')}`).join(', ');
console.log(`  attempts that failed while they moved: ${failedText || 'none'}`);
const errorsOnOne = new Map();
for (const line of nodes[0].out.split('\n')) {
  const msg = /"msg":"([^"]*)"/.exec(line)?.[1];
  if (msg) errorsOnOne.set(msg, (errorsOnOne.get(msg) ?? 0) + 1);
}
console.log(`  node 1's errors (its last 20 KB of log): ${[...errorsOnOne].map(([msg, n]) => `${n} × ${msg}`).join('; ') || 'none'}`);
console.log(`  node 1 meanwhile: ${(cpuMs / 1000).toFixed(1)} s of CPU (${((cpuMs / (allBackSec * 1000)) * 100).toFixed(0)} % of one core), RSS ${(rssOf(nodes[0].child.pid) / 1048576).toFixed(0)} MiB; devices with a cluster MAC before the move: ${argon2Before}/${N} (a moving speaker is checked by its MAC, not argon2)`);

await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close', label: 'loalang', final: true })));
for (const w of workers) w.send({ cmd: 'exit' });
await db.end();
nodes[0].child.kill('SIGTERM');
await new Promise((r) => nodes[0].child.once('exit', r));
await cleanUp();
