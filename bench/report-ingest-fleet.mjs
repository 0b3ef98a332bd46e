// Report ingest from a fleet (issue 16): 1,000 speakers, each an mqtt.js client with its own
// credentials (in a worker process, so the server's process measures the server), publish their
// play reports (QoS 1) all at once to a real server core; we time until every application ack
// is back (each ack means the report's row is committed), then resend them all to measure the
// idempotent path and check that no row was added. Both databases in one run: SQLite in a
// temporary folder, and PostgreSQL in a throwaway cluster (test-kit/src/postgres-cluster.mjs, as
// the tests' one: trust auth on loopback, fsync and synchronous_commit off), skipped with the reason where PostgreSQL is not installed.
//   node bench/report-ingest-fleet.mjs [--no-batching] [--single-acks] [--single-reports]
//     --no-batching: each report stored on its own (the server before batching)
//     --single-acks: the speakers do not announce `report-ack-many` (agents before it): one signed ack per report
//     --single-reports: the speakers send one message per report (agents before `report-batch`)
//   DEVICES=1000 REPORTS=20        speakers, and new reports per speaker in each of the 3 measured rounds (after a warm-up round of 2)
// LOALANG_BENCH_SMOKE=1: 20 speakers × 5 reports (checks the bench still runs). Uses the built packages.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresSkipReason, startPostgres } from '../test-kit/src/postgres-cluster.mjs';
import { callWorker } from './lib/worker-rpc.mjs';
import { ServerCore } from '../broker/dist/index.js';
import { MAX_REPORTS_PER_BATCH } from '../protocol/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const DEVICES = SMOKE ? 20 : Number(process.env.DEVICES ?? 1000);
const REPORTS = SMOKE ? 5 : Number(process.env.REPORTS ?? 20);
/** Reports per speaker of a first, unmeasured round: the server's code paths run warm, as in a server that has been up. */
const WARMUP_REPORTS = 2;
/** Rounds of new reports (REPORTS per speaker each, about a second): the figure is their median. */
const ROUNDS = SMOKE ? 1 : 3;
const BATCHING = !process.argv.includes('--no-batching');
const ACKS_MANY = !process.argv.includes('--single-acks');
const REPORTS_PER_MESSAGE = process.argv.includes('--single-reports') ? 1 : MAX_REPORTS_PER_BATCH;
const ROUND_TIMEOUT_MS = 120_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
console.log(`report ingest: ${DEVICES} speakers × ${REPORTS} reports, each speaker its own MQTT connection (clients in a worker process); batching ${BATCHING ? 'on' : 'off (--no-batching)'}; ${ACKS_MANY ? 'one ack for several reports of a speaker (report-ack-many)' : 'one ack per report (--single-acks)'}; ${REPORTS_PER_MESSAGE > 1 ? `up to ${REPORTS_PER_MESSAGE} reports per message (report-batch)` : 'one message per report (--single-reports)'}`);

// --- The fleet ------------------------------------------------------------------------------------
const worker = fork(fileURLToPath(new URL('./report-ingest-fleet-worker.mjs', import.meta.url)), { stdio: 'inherit' });
const call = (msg) => callWorker(worker, msg);

const at = (i) => new Date(Date.UTC(2026, 10, 22, 6, 0, i % 60)).toISOString();
const report = (deviceId, i) => JSON.stringify({ v: 1, reportId: `${deviceId}-r${i}`, playId: `p${i}`, scheduleId: 's', contentId: 'c', status: 'completed', scheduledAt: at(i), startedAt: at(i), endedAt: at(i), playedMs: 60000 });

/** Runs `fn` over `items`, `lanes` at a time. */
async function inLanes(items, lanes, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i], i);
    }),
  );
  return out;
}

async function measure(label, options) {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-fleet-'));
  const core = await ServerCore.create({ ...options, dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => '', ...(BATCHING ? {} : { reportBatching: false }) });
  try {
    await core.start();
    const area = await core.areas.create({ name: 'Xã', parentId: null });
    // Each speaker is registered as an operator would (its own secret, hashed with argon2) and
    // given the plays it will report (issue 14: the server stores only plays it gave).
    const plays = Array.from({ length: WARMUP_REPORTS + ROUNDS * REPORTS }, (_, i) => ({ playId: `p${i}`, scheduleId: 's', contentId: 'c', durationMs: 60000, startAt: at(i) }));
    const devices = await inLanes(Array.from({ length: DEVICES }, (_, i) => i), 8, async (i) => {
      const { device, secret } = await core.devices.create({ name: `Loa ${i}`, areaId: area.id });
      await core.issuedPlays.record(device.id, plays);
      const all = plays.map((_, j) => report(device.id, j));
      const reports = { warmup: all.slice(0, WARMUP_REPORTS) };
      for (let k = 0; k < ROUNDS; k++) reports[`round${k}`] = all.slice(WARMUP_REPORTS + k * REPORTS, WARMUP_REPORTS + (k + 1) * REPORTS);
      return { id: device.id, secret, reports };
    });
    await call({ cmd: 'connect', url: `mqtt://127.0.0.1:${core.mqttPort}`, devices, acksMany: ACKS_MANY });
    while (core.mqtt.stats().connectedClients < DEVICES) await sleep(50);
    await sleep(SMOKE ? 200 : 2000); // presence writes of the connects settle
    const rows = async () => Number((await core.database.selectFrom('reports').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const warm = await call({ cmd: 'round', timeoutMs: ROUND_TIMEOUT_MS, which: 'warmup', batch: REPORTS_PER_MESSAGE });
    if (warm.timedOut) throw new Error(`${label}: warm-up round: only ${warm.acks} of ${warm.expected} acks within ${ROUND_TIMEOUT_MS} ms`);
    console.log(`${label.padEnd(10)} warm-up       : ${warm.acks} reports (${WARMUP_REPORTS} per speaker, not measured)`);
    await sleep(SMOKE ? 100 : 1000);
    let total = DEVICES * WARMUP_REPORTS;
    let before = await rows();
    let failed = false;
    const rounds = [...Array.from({ length: ROUNDS }, (_, k) => ({ what: `new reports ${k + 1} `, which: `round${k}`, fresh: true })), { what: 'resent (no-op)', which: 'round0', fresh: false }];
    const rates = [];
    for (const { what, which, fresh } of rounds) {
      if (fresh) total += DEVICES * REPORTS;
      const cpu0 = process.cpuUsage();
      const b0 = core.reportBatchStats();
      const r = await call({ cmd: 'round', timeoutMs: ROUND_TIMEOUT_MS, which, batch: REPORTS_PER_MESSAGE });
      const cpu = process.cpuUsage(cpu0);
      const b1 = core.reportBatchStats();
      const s = r.ms / 1000;
      const n = await rows();
      const batches = b0 && b1 ? `; ${b1.batches - b0.batches} batches of ${((b1.reports - b0.reports) / Math.max(1, b1.batches - b0.batches)).toFixed(0)} on average` : '';
      if (fresh) rates.push(r.acks / s);
      console.log(`${label.padEnd(10)} ${what}: ${r.acks} reports acknowledged (${r.messages} ack messages) in ${s.toFixed(2)} s = ${(r.acks / s).toFixed(0)} reports/s; rows added: ${n - before}, stored: ${n}; server process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, speakers' process ${r.cpuS.toFixed(2)} s${batches}`);
      before = n;
      if (r.timedOut || n !== total) {
        console.error(`${label}: ${r.timedOut ? `only ${r.acks} of ${r.expected} acks within ${ROUND_TIMEOUT_MS} ms` : ''} ${n !== total ? `${n} rows, expected ${total}` : ''}`);
        failed = true;
      }
      await sleep(SMOKE ? 100 : 1000); // the round's tail (alarm rules, alert board) settles
    }
    const sorted = [...rates].sort((a, b) => a - b);
    console.log(`${label.padEnd(10)} new reports: median of ${ROUNDS} round(s) ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} reports/s (${sorted.map((x) => x.toFixed(0)).join(', ')})`);
    await call({ cmd: 'end' });
    return !failed;
  } finally {
    await core.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

let ok = await measure('sqlite', {});
const skip = postgresSkipReason();
if (skip) console.log(`PostgreSQL skipped (${skip})`);
else {
  const cluster = await startPostgres();
  try {
    ok = (await measure('postgres', { databaseUrl: await cluster.createDatabase('loalang_bench') })) && ok;
  } finally {
    await cluster.destroy();
  }
}
worker.disconnect();
process.exit(ok ? 0 : 1);
