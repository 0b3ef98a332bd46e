// Device list at province scale: 10,000 devices in 1 province / 10 districts / 100 communes,
// each with 24 h of hourly telemetry (240,000 raw samples) and 2 % with an active alarm.
// A worker thread sends GET /api/v1/devices at a fixed 100 requests/s for 20 s per query (after
// 2 s of the same, not counted) and measures each response; the server runs in this process, as in production.
// Issue 16: the same on SQLite and on PostgreSQL (a throwaway cluster with durability on), in one
// run; the PostgreSQL half is skipped, with the reason, where PostgreSQL is not installed.
// LOALANG_BENCH_SMOKE=1: 200 devices, 1 s per query (checks the bench still runs).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sql } from 'kysely';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';
import { postgresSkipReason, startPostgres } from '../test-kit/src/postgres-cluster.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 200 : 10_000));
const RATE = 100;
const SECONDS = Number(process.env.SECONDS ?? (SMOKE ? 1 : 20));
const WARMUP_SECONDS = SMOKE ? 0.2 : 2;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
process.env.LOALANG_ADMIN_PASSWORD = 'bench-admin-password';

async function benchOn(dialect, databaseUrl) {
console.log(`-- ${dialect}`);
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-devices-'));
const server = await startServer({ dataDir: dir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), settings: databaseUrl ? { databaseUrl } : {} });
const { core } = server;
const root = (await core.areas.list())[0];
const districts = [];
const communes = [];
for (let d = 0; d < 10; d++) {
  const district = await core.areas.create({ name: `Huyện ${d + 1}`, parentId: root.id });
  districts.push(district);
  for (let c = 0; c < 10; c++) communes.push(await core.areas.create({ name: `Xã ${d + 1}.${c + 1}`, parentId: district.id }));
}

const t0 = performance.now();
const now = Date.now();
const telemetry = (at) => ({ v: 1, at: new Date(at).toISOString(), agentVersion: '0.1.0', uptimeSec: 3600, desiredVersion: 3, outboxPending: 0, cpuLoad1: 0.2, memUsedBytes: 2e8, memTotalBytes: 1e9, diskFreeBytes: 5e9, diskTotalBytes: 8e9, amp: { power: false, faults: [], linkOk: true, temperatureC: 38 } });
const ids = Array.from({ length: N }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
// The devices straight into the store (Kysely, one transaction, 500 rows a statement): registering
// 10,000 through the repository would hash 10,000 secrets.
await core.database.transaction().execute(async (trx) => {
  for (let from = 0; from < N; from += 500) {
    const rows = ids.slice(from, from + 500).map((id, j) => ({ id, name: `Loa ${from + j}`, area_id: communes[(from + j) % communes.length].id, secret_hash: 'x', online: (from + j) % 10 === 0 ? 0 : 1, last_seen_at: new Date(now).toISOString(), latest_telemetry: JSON.stringify(telemetry(now)), created_at: new Date(now).toISOString() }));
    await trx.insertInto('devices').values(rows).execute();
  }
});
// A day of hourly samples per device, straight into the store in bulk (the list reads each device's
// latest health from its row; the history is there so the tables are the size a province's are).
await core.database.transaction().execute(async (trx) => {
  const rows = ids.flatMap((id) => Array.from({ length: 24 }, (_, h) => ({ device_id: id, at: new Date(now - h * 3600_000).toISOString(), data: JSON.stringify(telemetry(now - h * 3600_000)) })));
  for (let from = 0; from < rows.length; from += 1000) await trx.insertInto('telemetry').values(rows.slice(from, from + 1000)).execute();
});
// Alarms through their repository, as the server raises them.
for (const [i, id] of ids.entries()) if (i % 50 === 0) await core.alarms.raise(id, 'over-temperature', null, now);
console.log(`${N} devices, ${N * 24} telemetry samples, ${N / 50} active alarms written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// A province's database has been running for months: its statistics are current and no bulk
// load is waiting to be flushed. Both are brought to that state before measuring; otherwise a
// PostgreSQL that has just taken 250,000 rows spends the first minutes of the measurement on
// autovacuum, autoanalyze and a checkpoint (p99 of the first query 347 ms, of the last 112 ms).
const settle = performance.now();
if (databaseUrl) {
  await sql`VACUUM ANALYZE`.execute(core.database);
  await sql`CHECKPOINT`.execute(core.database);
} else {
  await sql`ANALYZE`.execute(core.database);
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(core.database);
}
console.log(`statistics and checkpoint (${databaseUrl ? 'VACUUM ANALYZE, CHECKPOINT' : 'ANALYZE, wal_checkpoint'}) in ${((performance.now() - settle) / 1000).toFixed(1)} s`);

const token = (await (await fetch(`${server.urls.http}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json()).token;
const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, token, rate, seconds } = workerData;
const lat = [];
let errors = 0;
const start = performance.now();
let sent = 0;
const total = rate * seconds;
const pending = [];
const tick = () => {
  const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
  while (sent < due) {
    sent++;
    const t = performance.now();
    pending.push(fetch(url, { headers: { authorization: 'Bearer ' + token } }).then(async (r) => { await r.arrayBuffer(); if (!r.ok) errors++; lat.push(performance.now() - t); }, () => errors++));
  }
  if (sent < total) setTimeout(tick, 2); else Promise.all(pending).then(() => parentPort.postMessage({ lat, errors, seconds: (performance.now() - start) / 1000 }));
};
tick();`;
const run = (path, seconds = SECONDS) =>
  new Promise((resolve) => {
    const w = new Worker(workerCode, { eval: true, workerData: { url: `${server.urls.http.replace(/\/\/[^:]+:/, '//127.0.0.1:')}${path}`, token, rate: RATE, seconds } });
    w.once('message', resolve);
  });
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
for (const [label, path] of [
  ['district (1,000 devices), first page of 100', `/api/v1/devices?areaId=${districts[3].id}&limit=100`],
  ['commune (100 devices), all', `/api/v1/devices?areaId=${communes[42].id}`],
  ['province, offline only (1,000), first 100', '/api/v1/devices?status=offline&limit=100'],
  ['province, with an active alarm (200)', '/api/v1/devices?alarm=true'],
  ['province, page 50 of 100', '/api/v1/devices?limit=100&offset=5000'],
]) {
  // Warm-up, not counted: the first requests of a route compile its code and fill the pool's
  // connections (on PostgreSQL they were most of the p99 of whichever query ran first).
  await run(path, WARMUP_SECONDS);
  // How long the server's event loop was kept from running (a request waits that long before its first line runs).
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const { lat, errors, seconds } = await run(path);
  loop.disable();
  lat.sort((a, b) => a - b);
  console.log(`${label}: ${lat.length} requests in ${seconds.toFixed(1)} s (${(lat.length / seconds).toFixed(0)}/s), p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${lat.at(-1).toFixed(1)} ms, errors ${errors}; server event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`);
}
await server.stop();
rmSync(dir, { recursive: true, force: true });
}

await benchOn('sqlite');
const skip = postgresSkipReason();
if (skip) console.log(`-- postgres: skipped (${skip})`);
else {
  const cluster = await startPostgres({ durable: true });
  try {
    await benchOn('postgres', await cluster.createDatabase('loalang_bench'));
  } finally {
    await cluster.destroy();
  }
}
