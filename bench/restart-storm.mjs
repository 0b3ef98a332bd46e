// Issue 19, a reconnect storm: one `loalang server` process (SQLite) with N simulated speakers
// (raw MQTT clients speaking the real protocol, in worker processes: bench/alert-fanout-worker.mjs)
// is restarted (SIGTERM, then started again on the same ports and data). Every speaker reconnects
// as an agent does, with full-jitter backoff (1 s doubling to 60 s). Printed: time until each is
// back (connected and subscribed), the server's CPU and memory meanwhile, and the attempts that
// failed. Target: all back within 60 s at N = 10,000.
//   node bench/restart-storm.mjs          (N=10000 WORKERS=4 to change)
//   LOALANG_BENCH_SMOKE=1: 40 speakers on one worker (checks it still runs; figures not comparable).
import { fork, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test-kit/src/free-port.mjs';
import { callWorker } from './lib/worker-rpc.mjs';
import { cleanUpOnCrash, cpuOf, rssOf, seedDevices } from './lib/fleet-seed.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 40 : 10_000));
const WORKERS = Number(process.env.WORKERS ?? (SMOKE ? 1 : 4));
const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-restart-'));
const PASSWORD = 'mat-khau-bench-khoi-dong';
const ports = { http: await freePort(), mqtt: await freePort() };
const children = [];
let server = null;
async function startNode() {
  const child = spawn(process.execPath, [CLI, 'server', '--data', dir, '--http-port', String(ports.http), '--mqtt-port', String(ports.mqtt), '--host', '127.0.0.1', '--plaintext'], {
    env: { ...process.env, LOALANG_ADMIN_PASSWORD: PASSWORD, LOALANG_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const node = { child, base: `http://127.0.0.1:${ports.http}/api/v1`, out: '' };
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      node.out = (node.out + d.toString()).slice(-20_000);
      if (/api:\s+http/.test(node.out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the server exited ${code}: ${node.out}`)));
  });
  return node;
}
const cleanUp = cleanUpOnCrash(children, dir);
const connected = async () => Number(/^loalang_mqtt_connected_clients (\d+)/m.exec(await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text())?.[1] ?? 0);

server = await startNode();
const login = await (await fetch(`${server.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) })).json();
const province = (await (await fetch(`${server.base}/areas`, { headers: { authorization: `Bearer ${login.token}` } })).json())[0];

// N devices straight into the server's SQLite file (one secret hashed once), as the other benches do.
const devices = (await seedDevices(join(dir, 'loalang.db'), N, 'bench', province.id)).map((d) => ({ ...d, areaIds: [province.id] }));

const workers = Array.from({ length: WORKERS }, () => fork(fileURLToPath(new URL('./alert-fanout-worker.mjs', import.meta.url)), { stdio: 'inherit' }));
children.push(...workers);
const split = (list) => workers.map((_, i) => list.filter((_, j) => j % WORKERS === i));
const url = `mqtt://127.0.0.1:${ports.mqtt}`;
const c0 = now();
const results = await Promise.all(split(devices).map((list, i) => callWorker(workers[i], { cmd: 'connect', label: 'loalang', url, devices: list, auth: true, failover: [url] })));
const failed = results.reduce((n, r) => n + r.failed, 0);
while ((await connected()) < N - failed) await sleep(500);
console.log(`${N} speakers, ${WORKERS} worker processes: connected in ${((now() - c0) / 1000).toFixed(1)} s (${failed} failed; each device's first login is checked with argon2)`);
await sleep(SMOKE ? 300 : 3000);

// --- The restart ----------------------------------------------------------------------------------
const r0 = now();
server.child.kill('SIGTERM');
await new Promise((r) => server.child.once('exit', r));
const stoppedSec = (now() - r0) / 1000;
server = await startNode();
const upSec = (now() - r0) / 1000;
const cpu0 = cpuOf(server.child.pid);
let rssMax = 0;
const deadline = Date.now() + 180_000;
const back = [];
const failedWhy = new Map();
while (back.length < N - failed && Date.now() < deadline) {
  await sleep(500);
  rssMax = Math.max(rssMax, rssOf(server.child.pid));
  failedWhy.clear();
  for (const r of await Promise.all(workers.map((w) => callWorker(w, { cmd: 'returns' })))) {
    back.push(...r.returns);
    for (const [why, n] of Object.entries(r.failures ?? {})) failedWhy.set(why, (failedWhy.get(why) ?? 0) + n);
  }
}
const lastSec = ((back.length ? Math.max(...back) : now()) - r0) / 1000;
const cpuMs = cpuOf(server.child.pid) - cpu0;
const took = back.map((t) => t - r0).sort((a, b) => a - b);
console.log(
  `restart: stopped in ${stoppedSec.toFixed(1)} s, serving again at ${upSec.toFixed(1)} s; ${back.length}/${N - failed} speakers back, the last at ${lastSec.toFixed(1)} s ` +
    `(target ≤ 60 s: ${back.length === N - failed && lastSec <= 60 ? 'met' : 'NOT met'}); p50 ${(pct(took, 50) / 1000).toFixed(1)} s, p95 ${(pct(took, 95) / 1000).toFixed(1)} s`,
);
console.log(`  server meanwhile: ${(cpuMs / 1000).toFixed(1)} s of CPU (${((cpuMs / (lastSec * 1000 - upSec * 1000)) * 100).toFixed(0)} % of one core from serving to the last back), RSS max ${(rssMax / 1048576).toFixed(0)} MiB; connected now: ${await connected()}`);
console.log(`  attempts that failed: ${[...failedWhy].map(([why, n]) => `${n} × ${why}`).join(', ') || 'none'}`);

await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close', label: 'loalang', final: true })));
for (const w of workers) w.send({ cmd: 'exit' });
server.child.kill('SIGTERM');
await new Promise((r) => server.child.once('exit', r));
cleanUp();
