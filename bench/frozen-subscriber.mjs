// Issue 19: one frozen subscriber must not delay an alert to the others. A speaker that stops
// reading its socket (a hung process, a box whose 4G modem wedged) still has messages written to
// it until its buffers are full; then Aedes waits for the socket to drain before it calls that
// delivery done, and cuts the client after `drainTimeout` (10 s). What must not happen is that
// everyone else waits with it.
//
// The real server (SQLite), N speakers as raw MQTT clients (bench/alert-fanout-worker.mjs, one
// worker process), in commune A; one more speaker in commune B that subscribes and then stops
// reading. Live frame groups of 8 KiB are published to commune B until the server can no longer
// write to the frozen one (its socket's buffer holds what the kernel would not take). Then an
// alert to the province (A and B), timed from POST to each speaker's receipt, against the same
// alert with nobody frozen, in the same run; and how long until the frozen one is cut.
//   node bench/frozen-subscriber.mjs          (N=1000 to change; LOALANG_BENCH_SMOKE=1: N=20)
import { fork } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';
import { hashSecret } from '../broker/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';
import { callWorker } from './lib/worker-rpc.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = Number(process.env.N ?? (SMOKE ? 20 : 1000));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-frozen-'));
const server = await startServer({ dataDir: dir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
const { core } = server;
const province = await core.areas.create({ name: 'Tỉnh', parentId: null });
const communeA = await core.areas.create({ name: 'Xã A', parentId: province.id });
const communeB = await core.areas.create({ name: 'Xã B', parentId: province.id });
const PASSWORD = 'mat-khau-bench-frozen';
await core.users.create({ username: 'bench', password: PASSWORD, role: 'alert-staff', areaId: province.id });
const api = `http://127.0.0.1:${server.httpPort}/api/v1`;
const { token } = await (await fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }) })).json();
const post = async (path, body) => {
  const res = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
const wav = join(dir, 'tone.wav');
execFileSync(locateFfmpeg(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=660:duration=2', '-ar', '16000', '-ac', '1', wav]);
const content = await core.library.importAudio(wav, { title: 'Cảnh báo', areaId: province.id, originalName: null, createdBy: null });

// N speakers in commune A, all with one secret hashed once (as alert-fanout.mjs does).
const secret = 'bench-device-secret-0123456789';
const secretHash = await hashSecret(secret);
const devices = Array.from({ length: N }, (_, i) => ({ id: `bench-${i}`, secret, areaIds: [communeA.id, province.id] }));
await core.database.transaction().execute(async (trx) => {
  for (let from = 0; from < devices.length; from += 500) {
    await trx.insertInto('devices').values(devices.slice(from, from + 500).map((d, j) => ({ id: d.id, name: `Loa ${from + j}`, area_id: communeA.id, secret_hash: secretHash, created_at: new Date().toISOString() }))).execute();
  }
});
const worker = fork(fileURLToPath(new URL('./alert-fanout-worker.mjs', import.meta.url)), { stdio: 'inherit' });
await callWorker(worker, { cmd: 'connect', label: 'loalang', url: `mqtt://127.0.0.1:${server.mqttPort}`, devices, auth: true });
while (core.mqtt.stats().connectedClients < N) await sleep(100);
await sleep(SMOKE ? 300 : 2000); // desired states sent on subscribe settle

/** An alert to the province; receipts by the N speakers of commune A, from the POST. */
async function alertRound(label) {
  const t0 = now();
  const alert = await post('/alerts', { contentId: content.id, targets: { areaIds: [province.id], deviceIds: [] } });
  const answered = now() - t0;
  const deadline = Date.now() + 30_000;
  while ((await callWorker(worker, { cmd: 'count', key: alert.id })).n < N && Date.now() < deadline) await sleep(20);
  const lat = (await callWorker(worker, { cmd: 'collect', key: alert.id })).receipts.map((r) => r - t0).sort((a, b) => a - b);
  console.log(`${label}: POST answered in ${fmt(answered)}; receipt at ${lat.length}/${N}: p50 ${fmt(pct(lat, 50))}, p95 ${fmt(pct(lat, 95))}, max ${fmt(lat.at(-1))}`);
  await post(`/alerts/${alert.id}/cancel`, {});
  await sleep(SMOKE ? 300 : 1000);
  return lat;
}

await alertRound('warm-up              '); // the first alert pays for caches and JIT
await alertRound('nobody frozen        ');

// The frozen speaker: subscribes to its commune's topics, then stops reading.
const { device: frozenDevice, secret: frozenSecret } = await core.devices.create({ name: 'Loa treo', areaId: communeB.id });
const frozen = mqtt.connect(`mqtt://127.0.0.1:${server.mqttPort}`, { clientId: frozenDevice.id, username: frozenDevice.id, password: frozenSecret, clean: true, keepalive: 60, reconnectPeriod: 0 });
await new Promise((resolve, reject) => (frozen.once('connect', resolve), frozen.once('error', reject)));
frozen.on('error', () => undefined);
await frozen.subscribeAsync([`loalang/v1/area/${communeB.id}/#`], { qos: 0 });
frozen.stream.pause();
const frozenAt = now();
// Frame groups to commune B until the server holds data it cannot write to the frozen socket.
const aedesClient = () => core.mqtt.aedes?.clients?.[frozenDevice.id];
const group = Buffer.alloc(8192, 7);
let published = 0;
// Not awaited: a publish's callback waits for every subscriber's delivery, the frozen one's too.
const needsDrain = () => aedesClient()?.conn?.writableNeedDrain === true;
while (!needsDrain() && published < 50_000 && core.mqtt.isOnline(frozenDevice.id)) {
  void core.mqtt.publishLiveAudio(communeB.id, group).catch(() => undefined);
  published++;
  if (published % 20 === 0) await sleep(1);
}
const fullAt = now();
console.log(`frozen speaker: ${published} groups of 8 KiB (${((published * 8) / 1024).toFixed(1)} MiB) sent to it before the kernel took no more (${fmt(fullAt - frozenAt)} after it stopped reading); the server now waits for it to drain`);
// Keep its deliveries waiting while the alert goes out (a group every 60 ms, as a live session does).
const live = setInterval(() => void core.mqtt.publishLiveAudio(communeB.id, group).catch(() => undefined), 60);
await alertRound('one speaker frozen   ');
const cutAfter = await (async () => {
  const deadline = Date.now() + 30_000;
  while (core.mqtt.isOnline(frozenDevice.id) && Date.now() < deadline) await sleep(50);
  return core.mqtt.isOnline(frozenDevice.id) ? null : now() - fullAt;
})();
clearInterval(live);
console.log(`the frozen speaker was ${cutAfter === null ? 'NOT cut within 30 s' : `cut ${fmt(cutAfter)} after its socket was full`} (drainTimeout 10 s)`);

frozen.end(true);
await callWorker(worker, { cmd: 'close', label: 'loalang' });
worker.send({ cmd: 'exit' });
await server.stop();
rmSync(dir, { recursive: true, force: true });
