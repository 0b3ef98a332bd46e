// Command round trip to the board simulator over a socat pty pair at 115200 and 9600 baud.
// A pty does not model baud timing, so the wire time a real UART adds is computed and shown
// beside the measured figure. Needs Debian's socat. LOALANG_BENCH_SMOKE=1: 50 commands (checks the bench still runs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoardDriver, BoardSimulator, NodeSerialLink, STATUS_LENGTH, OVERHEAD } from '../firmware-bridge/dist/index.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const N = SMOKE ? 50 : 2000;
if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).error) {
  console.log('skipped: socat is not installed (apt-get install socat); it makes the virtual serial cable');
  process.exit(0);
}
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
async function run(baud) {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-pty-'));
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  while (!(existsSync(a) && existsSync(b))) await new Promise((r) => setTimeout(r, 10));
  const sim = new BoardSimulator(new NodeSerialLink(b, baud));
  await sim.start();
  const amp = new BoardDriver(new NodeSerialLink(a, baud), { timeoutMs: 500, failsafeSec: 600 });
  await amp.start();
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await amp.status();
    times.push(performance.now() - s);
  }
  const total = performance.now() - t0;
  times.sort((x, y) => x - y);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2);
  const wireMs = (((OVERHEAD + 0) + (OVERHEAD + STATUS_LENGTH)) * 10 * 1000) / baud;
  console.log(
    `${String(baud).padStart(6)} baud: STATUS round trip p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, ${(N / (total / 1000)).toFixed(0)} commands/s over the pty; ` +
      `a real UART adds ${wireMs.toFixed(2)} ms of wire time (${OVERHEAD + STATUS_LENGTH + OVERHEAD} bytes × 10 bits) → ≈ ${(1000 / (Number(q(0.5)) + wireMs)).toFixed(0)} commands/s`,
  );
  await amp.stop();
  await sim.stop();
  socat.kill();
}
for (const baud of [115200, 9600]) await run(baud);
