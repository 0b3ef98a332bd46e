// The console's live stream (GET /api/v1/events, decision 0018) at province scale: 10,000
// speakers in 1 province / 10 districts / 100 communes, each sending health once a minute
// (~170 changes a second), watched by 50 province-wide consoles and 50 commune consoles at once.
// Then every speaker changes at the same moment (all reconnect after a server restart).
// The consoles run in a child process; the server in this process, as in production, so the
// CPU figure is the server's alone.
// Prints: how late a change reaches a console (it is coalesced for up to 1 s by design), the
// bytes a console receives, and the server's CPU for the streams.
// LOALANG_BENCH_SMOKE=1: 200 speakers, 4 consoles, 2 s each part (checks the bench still runs).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 200 : 10_000));
const SECONDS = Number(process.env.SECONDS ?? (SMOKE ? 2 : 20));
const RATE = N / 60; // each speaker once a minute
const CONSOLES = Number(process.env.CONSOLES ?? (SMOKE ? 4 : 100));
const BURST_SECONDS = SMOKE ? 2 : 8; // how long the burst is watched
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-events-'));
process.env.LOALANG_ADMIN_PASSWORD = 'bench-admin-password';
const server = await startServer({ dataDir: dir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
const { core } = server;
const root = (await core.areas.list())[0];
const communes = [];
for (let d = 0; d < 10; d++) {
  const district = await core.areas.create({ name: `Huyện ${d + 1}`, parentId: root.id });
  for (let c = 0; c < 10; c++) communes.push(await core.areas.create({ name: `Xã ${d + 1}.${c + 1}`, parentId: district.id }));
}
const telemetry = (at) => ({ v: 1, at: new Date(at).toISOString(), agentVersion: '0.1.0', uptimeSec: 3600, desiredVersion: 3, outboxPending: 0, cpuLoad1: 0.2, cpuTemperatureC: 51, network: { type: '4g', signalPercent: 71 }, amp: { power: false, faults: [], linkOk: true, temperatureC: 38 } });
const ids = Array.from({ length: N }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
// The devices straight into the store (Kysely, one transaction, 500 rows a statement): registering
// 10,000 through the repository would hash 10,000 secrets.
await core.database.transaction().execute(async (trx) => {
  for (let from = 0; from < N; from += 500) {
    const rows = ids.slice(from, from + 500).map((id, j) => ({ id, name: `Loa ${from + j}`, area_id: communes[(from + j) % communes.length].id, secret_hash: 'x', online: 1, last_seen_at: new Date().toISOString(), latest_telemetry: JSON.stringify(telemetry(Date.now())), created_at: new Date().toISOString() }));
    await trx.insertInto('devices').values(rows).execute();
  }
});
await core.users.create({ username: 'ky-thuat-xa', password: 'bench-password-xa', role: 'technician', areaId: communes[0].id });
const login = async (username, password) => (await (await fetch(`${server.urls.http.replace(/\/\/[^:]+:/, '//127.0.0.1:')}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) })).json()).token;
const tokens = { province: await login('admin', 'bench-admin-password'), commune: await login('ky-thuat-xa', 'bench-password-xa') };

const clientCode = `
const { url, tokens, clients } = JSON.parse(process.argv[1]);
const parentPort = { postMessage: (m) => process.send(m) };
const stats = { province: { lags: [], bytes: 0, batches: 0 }, commune: { lags: [], bytes: 0, batches: 0 } };
let open = 0;
for (let i = 0; i < clients; i++) {
  const kind = i % 2 ? 'commune' : 'province';
  void (async () => {
    const res = await fetch(url, { headers: { authorization: 'Bearer ' + tokens[kind] } });
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      const s = stats[kind];
      s.bytes += chunk.length;
      const from = Math.max(0, buf.length - 1);
      buf += decoder.decode(chunk, { stream: true });
      let cut = buf.indexOf('\\n\\n', from);
      for (; cut >= 0; cut = buf.indexOf('\\n\\n')) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        if (block.startsWith('event: hello')) { if (++open === clients) parentPort.postMessage('open'); continue; }
        if (!block.startsWith('event: devices')) continue;
        const now = Date.now();
        s.batches++;
        for (const d of JSON.parse(block.slice(block.indexOf('data: ') + 6))) if (d.latestTelemetry) s.lags.push(now - Date.parse(d.latestTelemetry.at));
      }
    }
  })();
}
process.on('message', (m) => { if (m === 'report') { parentPort.postMessage(stats); for (const k in stats) { stats[k] = { lags: [], bytes: 0, batches: 0 }; } } });`;
const consoles = spawn(process.execPath, ['-e', clientCode, JSON.stringify({ url: `${server.urls.http.replace(/\/\/[^:]+:/, '//127.0.0.1:')}/api/v1/events`, tokens, clients: CONSOLES })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
await new Promise((r) => consoles.once('message', r));
const report = () => new Promise((r) => { consoles.once('message', r); consoles.send('report'); });
/** A speaker's health arrives: written to the store, then announced (as the server's telemetry handler does). */
const change = async (id) => {
  await core.devices.recordTelemetry(id, telemetry(Date.now()));
  core.changes.emit('device', id);
};
const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);
const show = (title, stats, seconds, cpu) => {
  console.log(`\n${title}: server CPU ${((cpu.user + cpu.system) / 1000 / seconds / 10).toFixed(1)} % of one core (telemetry writes included)`);
  for (const [kind, s] of Object.entries(stats)) {
    const per = s.lags.length / (CONSOLES / 2);
    console.log(`  ${kind.padEnd(8)} console: ${per.toFixed(0)} device updates, ${(s.batches / (CONSOLES / 2)).toFixed(0)} batches, ${(s.bytes / (CONSOLES / 2) / seconds / 1024).toFixed(1)} KiB/s each; lag p50 ${pct(s.lags, 0.5)} ms, p95 ${pct(s.lags, 0.95)} ms, max ${pct(s.lags, 1)} ms`);
  }
};

// Steady state: each speaker once a minute, spread evenly.
await report();
let cpu0 = process.cpuUsage();
const t0 = performance.now();
let sent = 0;
const total = Math.round(RATE * SECONDS);
const writes = [];
await new Promise((resolve) => {
  const tick = () => {
    const due = Math.min(Math.round(((performance.now() - t0) / 1000) * RATE), total);
    while (sent < due) writes.push(change(ids[(sent++ * 7919) % N]));
    if (sent >= total) setTimeout(resolve, 1500);
    else setTimeout(tick, 5);
  };
  tick();
});
await Promise.all(writes);
show(`${N} speakers, health once a minute (${RATE.toFixed(0)} changes/s) for ${SECONDS} s, ${CONSOLES} consoles`, await report(), SECONDS + 1.5, process.cpuUsage(cpu0));

// Every speaker at once.
cpu0 = process.cpuUsage();
const burst = performance.now();
await Promise.all(ids.map(change));
const emitted = performance.now() - burst;
await new Promise((r) => setTimeout(r, BURST_SECONDS * 1000));
show(`all ${N} speakers change at once (emitted in ${emitted.toFixed(0)} ms)`, await report(), BURST_SECONDS, process.cpuUsage(cpu0));

consoles.kill();
await server.stop();
rmSync(dir, { recursive: true, force: true });
