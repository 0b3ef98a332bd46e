// Agent at rest: one agent process (simulated board, null sink, telemetry every 60 s) connected
// to a real server, with its programme cached and nothing to play. Samples its CPU time and
// resident memory from /proc every 5 s for DURATION seconds (default 300).
// LOALANG_BENCH_SMOKE=1: a few seconds, once the agent is online (checks the bench still runs).
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startServer } from '../console/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const DURATION = Number(process.env.DURATION ?? (SMOKE ? 3 : 300));
const SAMPLE_MS = SMOKE ? 1000 : 5000;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const CLI = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-idle-'));
process.env.LOALANG_ADMIN_PASSWORD ??= 'bench-admin-password';
const server = await startServer({ dataDir: join(dir, 'server'), httpPort: 0, mqttPort: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
const area = await server.core.areas.create({ name: 'Xã', parentId: null });
const { device, secret } = await server.core.devices.create({ name: 'Loa', areaId: area.id });
const config = join(dir, 'agent.json');
writeFileSync(config, JSON.stringify({ deviceId: device.id, password: secret, mqttUrl: server.urls.mqtt, httpUrl: server.urls.http, cacheDir: join(dir, 'agent'), serial: { simulate: true }, audioSink: 'null', serverKeys: server.core.signer.trusted() }));
const agent = spawn(process.execPath, [CLI, 'agent', '--config', config], { env: { ...process.env, LOALANG_LOG_LEVEL: 'warn' }, stdio: 'inherit' });
let exited = null;
agent.once('exit', (code, signal) => (exited = { code, signal }));
process.on('exit', () => exited || agent.kill('SIGKILL')); // never leave the agent behind on a failure
// Started, connected, first telemetry sent: 10 s (a smoke run only waits until it is online).
const settleUntil = Date.now() + (SMOKE ? 0 : 10_000);
for (const deadline = Date.now() + 30_000; ; ) {
  if (exited) throw new Error(`the agent exited before the measurement (${JSON.stringify(exited)})`);
  if (Date.now() >= settleUntil && (await server.core.devices.get(device.id))?.online) break;
  if (Date.now() > deadline) throw new Error('the agent did not come online within 30 s');
  await new Promise((r) => setTimeout(r, 250));
}

const ticks = 100; // USER_HZ on Linux
const cpuSeconds = () => {
  const f = readFileSync(`/proc/${agent.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks; // utime + stime
};
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))[1]) / 1024;
const c0 = cpuSeconds();
const t0 = performance.now();
const rss = [];
while ((performance.now() - t0) / 1000 < DURATION) {
  rss.push(rssMiB());
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
  if (exited) throw new Error(`the agent exited during the measurement (${JSON.stringify(exited)})`);
}
const cpu = cpuSeconds() - c0;
const wall = (performance.now() - t0) / 1000;
rss.sort((a, b) => a - b);
console.log(`agent idle over ${wall.toFixed(0)} s: CPU ${cpu.toFixed(2)} s = ${((cpu / wall) * 100).toFixed(2)} % of one core; RSS min ${rss[0].toFixed(1)} MiB, median ${rss[Math.floor(rss.length / 2)].toFixed(1)} MiB, max ${rss.at(-1).toFixed(1)} MiB`);
agent.kill('SIGTERM');
if (!exited) await new Promise((r) => agent.once('exit', r));
await server.stop();
rmSync(dir, { recursive: true, force: true });
