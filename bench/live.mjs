// Live announcements (issue 18): mouth-to-horn latency and the skew between speakers, for 2, 50
// and 500 simulated speakers. A source feeds a Vietnamese recording (espeak-ng) as 20 ms Opus
// frames in real time over the feed socket of the real server; the speakers are raw MQTT clients
// with device credentials (bench/live-worker.mjs), spread over worker processes, each worker's
// behind its own emulated rural 4G link (60 ± 30 ms each way, 2 Mbit/s, a 200 ms stall in 200
// segments). Each speaker measures its clock against the server as an agent does and would
// sound frame n at the session's instant for it, on its own measure of server time, if the frame
// came at least 100 ms before (the agent's lead); otherwise it conceals it (counted late).
//   mouth → horn: the frame's instant for the speaker less when the source finished it (sent − 20 ms);
//   skew: per frame, the latest speaker's instant less the earliest's (all speakers share this
//   machine's clock, so this is the error of their clock measurements through the link);
//   delivery: a frame's arrival at a speaker less when its group was complete at the source.
// Reference: the same number of clients, through the same kind of link, subscribed to a topic of
// Debian's Mosquitto on which a publisher sends a payload of a group's size every 60 ms: its
// delivery time. Without Mosquitto (apt-get install mosquitto) the reference is skipped and said so.
//   node bench/live.mjs                    (SIZES=2,50,500 SECONDS=20 WORKERS=4 PROBES=8 to change)
//   LOALANG_BENCH_SMOKE=1: 2 speakers, 3 s (checks it still runs).
import { fork, spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import OpusScript from 'opusscript';
import { pino } from 'pino';
import WebSocket from 'ws';
import { startServer } from '../console/dist/index.js';
import { hashSecret } from '../broker/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';
import { freePort } from '../test-kit/src/free-port.mjs';
import { callWorker } from './lib/worker-rpc.mjs';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const SIZES = (process.env.SIZES ?? (SMOKE ? '2' : '2,50,500')).split(',').filter(Boolean).map(Number);
const SECONDS = Number(process.env.SECONDS ?? (SMOKE ? 3 : 20));
const WORKERS = Number(process.env.WORKERS ?? 4);
// Clock probes each speaker sends on connect: 8, as an agent that just connected (it sends 16 more
// on joining); PROBES=64 is a speaker connected for 40 minutes (a burst of 8 every 5 minutes).
const PROBES = Number(process.env.PROBES ?? 8);
const LEAD_MS = 100; // the agent's LIVE_LEAD_MS
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((cmd) => spawnSync(cmd, ['-h'], { stdio: 'ignore' }).error === undefined) ?? null;
if (!MOSQUITTO) console.log('mosquitto is not installed (apt-get install mosquitto): the Mosquitto reference is skipped');
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
};
const ms = (v) => `${Number.isFinite(v) ? v.toFixed(0) : '–'} ms`;

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-live-'));
const server = await startServer({ dataDir: dir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
const { core } = server;
const province = await core.areas.create({ name: 'Tỉnh', parentId: null });
const commune = await core.areas.create({ name: 'Xã', parentId: province.id });
const PASSWORD = 'mat-khau-bench-live';
await core.users.create({ username: 'bench', password: PASSWORD, role: 'operator', areaId: province.id });
const api = `http://127.0.0.1:${server.httpPort}/api/v1`;
const { token } = await (await fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }) })).json();
const [key] = core.signer.trusted();

// The recording: espeak-ng's Vietnamese voice (a tone sweep without it), as 20 ms Opus frames.
const wav = join(dir, 'speech.wav');
const text = 'Kính thưa bà con, đây là buổi phát thanh trực tiếp của xã. Chiều nay điện lực cắt điện từ hai giờ đến năm giờ để sửa đường dây. Bà con chú ý sắp xếp công việc. ';
if (spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).error === undefined) execFileSync('espeak-ng', ['-v', 'vi', '-w', wav, '--', text.repeat(Math.ceil(SECONDS / 8))]);
else execFileSync(locateFfmpeg(), ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${SECONDS}`, wav]);
const raw = execFileSync(locateFfmpeg(), ['-v', 'error', '-i', wav, '-t', String(SECONDS), '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1'], { maxBuffer: 256 * 1024 * 1024 });
const opus = new OpusScript(48000, 1, OpusScript.Application.VOIP);
opus.setBitrate(24_000);
const frames = [];
for (let at = 0; at + 1920 <= raw.length; at += 1920) frames.push(Buffer.from(opus.encode(raw.subarray(at, at + 1920), 960)));
opus.delete();
const groupBytes = Math.round((frames.reduce((n, f) => n + f.length, 0) / frames.length) * 3 + 120);

let mosquitto = null;
let mosquittoPort = null;
if (MOSQUITTO) {
  mosquittoPort = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${mosquittoPort} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`);
  mosquitto = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  await sleep(500);
}

/** Feeds the frames in real time over the feed socket; returns when each left (epoch ms). */
async function feed(prepared) {
  const socket = new WebSocket(`ws://127.0.0.1:${server.httpPort}${prepared.feedPath}?ticket=${prepared.ticket}`);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const sentAt = [];
  const t0 = now() + 20;
  for (let i = 0; i < frames.length; i++) {
    const wait = t0 + i * 20 - now();
    if (wait > 1) await sleep(wait);
    const message = Buffer.alloc(4 + frames[i].length);
    message.writeUInt32BE(i, 0);
    frames[i].copy(message, 4);
    socket.send(message);
    sentAt.push(now());
  }
  socket.send(JSON.stringify({ type: 'end' }));
  await closed;
  return sentAt;
}

/** The reference: a payload of a group's size every 60 ms through Mosquitto, carrying when it left. */
async function reference(seconds) {
  const pub = mqtt.connect(`mqtt://127.0.0.1:${mosquittoPort}`, { clientId: 'bench-live-pub', reconnectPeriod: 0 });
  await new Promise((r) => pub.once('connect', r));
  const t0 = now();
  for (let i = 0; i < (seconds * 1000) / 60; i++) {
    const wait = t0 + i * 60 - now();
    if (wait > 1) await sleep(wait);
    const payload = Buffer.alloc(groupBytes);
    payload.writeDoubleBE(now(), 0);
    pub.publish('reference/live/audio', payload, { qos: 0 });
  }
  await sleep(1000);
  pub.end(true);
}

const secretHash = await hashSecret('bench-live-secret-0123456789');
let made = 0;
console.log(`live: ${SECONDS} s of speech, ${frames.length} frames (${groupBytes} bytes a group of 3 with its signature); speakers behind emulated rural 4G links, ${WORKERS} worker processes; ${PROBES} clock probes each on connect`);
for (const N of SIZES) {
  const devices = [];
  for (let i = 0; i < N; i++) devices.push({ id: `bench-live-${made + i}`, secret: 'bench-live-secret-0123456789', areaIds: [commune.id, province.id] });
  made += N;
  await core.database.insertInto('devices').values(devices.map((d) => ({ id: d.id, name: d.id, area_id: commune.id, secret_hash: secretHash, created_at: new Date().toISOString() }))).execute();
  const workers = Array.from({ length: Math.min(WORKERS, N) }, () => fork(fileURLToPath(new URL('./live-worker.mjs', import.meta.url)), [], { stdio: 'inherit' }));
  await Promise.all(workers.map((w, k) => callWorker(w, { cmd: 'connect', port: core.mqttPort, profile: 'rural4g', key, mosquittoPort, probes: PROBES, devices: devices.filter((_, i) => i % workers.length === k) })));
  await sleep(1000);

  const res = await fetch(`${api}/live`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ areaIds: [commune.id], title: `Bench ${N}` }) });
  const prepared = await res.json();
  if (res.status !== 201) throw new Error(`POST /live: ${res.status} ${JSON.stringify(prepared)}`);
  const sentAt = await feed(prepared);
  if (mosquitto) await reference(Math.min(SECONDS, 10));
  await sleep(1500);
  const reports = await Promise.all(workers.map((w) => callWorker(w, { cmd: 'report' })));
  await Promise.all(workers.map((w) => callWorker(w, { cmd: 'close' }).catch(() => undefined)));

  const speakers = reports.flatMap((r) => r.speakers);
  const latencies = [];
  const delivery = [];
  const hornsByFrame = new Map();
  let late = 0;
  let missing = 0;
  let refused = 0;
  for (const s of speakers) {
    refused += s.refused;
    if (s.anchorMs === null) {
      missing += frames.length;
      continue;
    }
    const arrivals = new Map(s.arrivals);
    for (let n = 0; n < frames.length; n++) {
      const arrived = arrivals.get(n);
      if (arrived === undefined) {
        missing++;
        continue;
      }
      const groupDone = sentAt[Math.min(frames.length - 1, n - (n % 3) + 2)];
      delivery.push(arrived - groupDone);
      // Its instant for this speaker: on its measure of server time (true offset 0 here).
      const horn = s.anchorMs + n * 20 + (s.aheadMs ?? 0);
      if (arrived > horn - LEAD_MS) {
        late++;
        continue;
      }
      latencies.push(horn - (sentAt[n] - 20));
      const h = hornsByFrame.get(n) ?? { min: Infinity, max: -Infinity };
      h.min = Math.min(h.min, horn);
      h.max = Math.max(h.max, horn);
      hornsByFrame.set(n, h);
    }
  }
  const skews = [...hornsByFrame.values()].map((h) => h.max - h.min);
  const errors = speakers.map((s) => Math.abs(s.aheadMs ?? NaN));
  const total = speakers.length * frames.length;
  console.log(
    `N=${String(N).padStart(3)}: mouth→horn p50 ${ms(pct(latencies, 50))}, p95 ${ms(pct(latencies, 95))}; skew p50 ${pct(skews, 50).toFixed(1)} ms, p95 ${pct(skews, 95).toFixed(1)} ms, max ${Math.max(...skews).toFixed(1)} ms ` +
      `(clock error p95 ${pct(errors, 95).toFixed(1)} ms); late ${((late / total) * 100).toFixed(2)} %, missing ${((missing / total) * 100).toFixed(2)} %; ` +
      `delivery p50 ${ms(pct(delivery, 50))}, p95 ${ms(pct(delivery, 95))}${refused ? `; ${refused} groups refused` : ''}`,
  );
  const ref = reports.flatMap((r) => r.reference).map(([sent, at]) => at - sent);
  if (mosquitto) console.log(`       Mosquitto, same clients and links: delivery p50 ${ms(pct(ref, 50))}, p95 ${ms(pct(ref, 95))}`);
}

mosquitto?.kill();
await server.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
