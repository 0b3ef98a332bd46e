// What the outbox (decision 0030) costs against plain HTTP: N messages written to it, then sent
// by the sender to a receiver on loopback, on one channel (in order, as the upstream channel is)
// and on 8 channels (8 webhooks); beside it, the same N bodies POSTed in a plain loop with
// fetch, no database (the reference, measured in the same run). The store is a SQLite file, as
// on a single server; N=5000 by default (N=…), bodies of 2 KiB (a registry batch is larger, a
// webhook event smaller).
// LOALANG_BENCH_SMOKE=1: 100 messages (checks the bench still runs).
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxRepo, OutboxSender, openStore } from '../broker/dist/index.js';
import { silentLogger, systemClock } from '../protocol/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const N = SMOKE ? 100 : Number(process.env.N ?? 5000);
const body = JSON.stringify({ duLieu: 'x'.repeat(2000) });

let received = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    res.writeHead(200).end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${receiver.address().port}/in`;
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** A fresh SQLite outbox and its sender to the receiver; `close` (after the sender stopped) removes its files. */
async function openOutbox(senderOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-outbox-'));
  const store = await openStore({ file: join(dir, 'bench.db') });
  const repo = new OutboxRepo(store.db);
  const sender = new OutboxSender({ repo, clock: systemClock, logger: silentLogger }, { pollMs: 200, ...senderOptions });
  sender.route('bench', async () => ({ url, headers: {} }));
  received = 0;
  /** Written → delivered of each delivered message, sorted (ms). */
  const waits = async () => {
    const rows = await store.db.selectFrom('outbox').select(['created_at', 'delivered_at']).where('state', '=', 'delivered').execute();
    return rows.map((r) => Date.parse(r.delivered_at) - Date.parse(r.created_at)).sort((a, b) => a - b);
  };
  const close = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { repo, sender, waits, close };
}

// The reference: the same POSTs in a plain loop, no database.
{
  received = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.text();
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`reference: plain fetch POSTs, one at a time: ${N} in ${s.toFixed(2)} s = ${Math.round(N / s)}/s`);
}

for (const channels of [1, 8]) {
  const { repo, sender, waits: delivered, close } = await openOutbox({ parallel: Math.min(channels, 8) });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await repo.enqueue({ channel: `bench:${i % channels}`, kind: 'bench', body });
  const written = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  sender.start();
  while (received < N) await new Promise((r) => setTimeout(r, 20));
  const sent = (performance.now() - t1) / 1000;
  await sender.stop();
  const waits = await delivered();
  console.log(`outbox, ${channels} channel${channels > 1 ? 's' : ''}: written ${N} in ${written.toFixed(2)} s = ${Math.round(N / written)}/s; sent ${waits.length}/${N} in ${sent.toFixed(2)} s = ${Math.round(N / sent)}/s; written → delivered p50 ${pct(waits, 50)} ms, p95 ${pct(waits, 95)} ms (all written before sending starts)`);
  await close();
}

// Written and sent together, as the upstream channel runs: each message waits only for those before it.
{
  const { repo, sender, waits: delivered, close } = await openOutbox({});
  sender.start();
  const n = Math.min(N, 1000);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await repo.enqueue({ channel: 'bench:live', kind: 'bench', body });
    sender.kick();
    await new Promise((r) => setTimeout(r, 5));
  }
  while (received < n) await new Promise((r) => setTimeout(r, 20));
  const s = (performance.now() - t0) / 1000;
  await sender.stop();
  const waits = await delivered();
  console.log(`outbox, written one every 5 ms and sent as written: ${n}/${n} in ${s.toFixed(2)} s; written → delivered p50 ${pct(waits, 50)} ms, p95 ${pct(waits, 95)} ms, max ${waits.at(-1)} ms`);
  await close();
}
receiver.close();
