// Report ingest: one device publishes N play reports (QoS 1) to a real server core; we time
// until every application-level ack is back (each ack means the row was committed), then
// resend them all to measure the idempotent path. Uses the built packages.
// LOALANG_BENCH_SMOKE=1: 200 reports (checks the bench still runs).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { ServerCore } from '../broker/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = SMOKE ? 200 : 5000;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-ingest-'));
const core = await ServerCore.create({ dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => '' });
await core.start();
const area = await core.areas.create({ name: 'Xã', parentId: null });
const { device, secret } = await core.devices.create({ name: 'Loa', areaId: area.id });
const client = mqtt.connect(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: secret, reconnectPeriod: 0 });
await new Promise((r) => client.once('connect', r));
await client.subscribeAsync(`loalang/v1/dev/${device.id}/report/ack`, { qos: 1 });

// The server stores only reports of plays it gave the device (issue 14): give it the N plays first
// (a server without that check has no `issuedPlays` and stores them anyway).
const at = (i) => new Date(Date.UTC(2026, 10, 22, 6, 0, i % 60)).toISOString();
await core.issuedPlays?.record(device.id, Array.from({ length: N }, (_, i) => ({ playId: `p${i}`, scheduleId: 's', contentId: 'c', durationMs: 60000, startAt: at(i) })));

async function round(label) {
  let acks = 0;
  const done = new Promise((resolve) => {
    const on = () => {
      if (++acks === N) {
        client.off('message', on);
        resolve();
      }
    };
    client.on('message', on);
  });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const report = { v: 1, reportId: `r${i}`, playId: `p${i}`, scheduleId: 's', contentId: 'c', status: 'completed', scheduledAt: at(i), startedAt: at(i), endedAt: at(i), playedMs: 60000 };
    client.publish(`loalang/v1/dev/${device.id}/report`, JSON.stringify(report), { qos: 1 });
  }
  await done;
  const s = (performance.now() - t0) / 1000;
  console.log(`${label}: ${N} reports acknowledged in ${s.toFixed(2)} s = ${(N / s).toFixed(0)} reports/s; rows stored: ${(await core.reports.query({ limit: 100000 })).length}`);
}
await round('new reports     ');
await round('resent (no-op)  ');
await client.endAsync();
await core.stop();
rmSync(dir, { recursive: true, force: true });
