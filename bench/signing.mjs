// What signing every downlink costs (decision 0016): the server's seal and the agent's check
// (parse, schema, canonical JSON, Ed25519 verify, replay memory; not the agent's SQLite write of
// that memory) for the messages that matter:
// a command, a desired state with 100 plays, and an alert carrying 64 KiB of audio inline.
// LOALANG_BENCH_SMOKE=1: 20 messages a run instead of 3,000 (500 for the alert) (checks the bench still runs).
import { EnvelopeSigner, newSigningKey } from '../protocol/dist/index.js';
import { DownlinkGuard } from '../edge-agent/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const key = newSigningKey();
const signer = new EnvelopeSigner(key.privateKeyPem);
const now = Date.now();
const play = (i) => ({ playId: `p${i}`, scheduleId: 's1', contentId: `c${i % 7}`, sha256: 'a'.repeat(64), url: `https://loa.example.vn/api/v1/content/c${i % 7}/file`, durationMs: 62_040, startAt: new Date(now + i * 3600_000).toISOString(), priority: 'normal', title: 'Bản tin sáng' });
const messages = {
  command: { v: 1, commandId: 'c1', type: 'volume', issuedAt: new Date(now).toISOString(), params: { volume: 40 } },
  'desired, 100 plays': { v: 1, deviceId: 'd1', version: 7, issuedAt: new Date(now).toISOString(), horizonUntil: new Date(now + 48 * 3600_000).toISOString(), plays: Array.from({ length: 100 }, (_, i) => play(i)), areaIds: ['a1', 'a0'] },
  'alert, 64 KiB inline': { v: 1, type: 'alert', alertId: 'al1', title: 'Bão số 3', priority: 'emergency', issuedAt: new Date(now).toISOString(), startAt: new Date(now + 1500).toISOString(), expiresAt: new Date(now + 3600_000).toISOString(), repeat: 2, gapMs: 3000, audio: { contentId: 'c1', sha256: 'b'.repeat(64), url: 'https://x/y', durationMs: 20_000, inline: Buffer.alloc(65_536, 7).toString('base64') } },
};

const time = (n, fn) => {
  for (let i = 0; i < Math.min(200, n); i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per call
};

console.log('message                 bytes   seal µs   check µs   (one core, median of 3 runs)');
for (const [name, body] of Object.entries(messages)) {
  const n = SMOKE ? 20 : name.startsWith('alert') ? 500 : 3000;
  const sealed = Array.from({ length: n + 200 }, (_, i) => signer.seal({ kind: 'cmd', to: 'dev/d1', iat: now, exp: now + 300_000, seq: i + 1, body }));
  const seals = [];
  const checks = [];
  for (let run = 0; run < 3; run++) {
    seals.push(time(n, (i) => signer.seal({ kind: 'cmd', to: 'dev/d1', iat: now, exp: now + 300_000, seq: i + 1, body })));
    // A fresh replay memory every 100 messages: a speaker gets far fewer within one expiry period.
    const newGuard = () => new DownlinkGuard({ state: { trustedKeys: () => [key], seen: () => [], saveSeen: () => undefined }, serverNow: () => now, clockKnown: () => true });
    let guard = newGuard();
    checks.push(time(n, (i) => {
      if (i % 100 === 0) guard = newGuard();
      if (!guard.check('cmd', 'dev/d1', sealed[i]).ok) throw new Error('refused');
    }));
  }
  const med = (a) => a.sort((x, y) => x - y)[1].toFixed(0);
  console.log(`${name.padEnd(22)} ${String(sealed[0].length).padStart(6)}   ${med(seals).padStart(7)}   ${med(checks).padStart(8)}`);
}
