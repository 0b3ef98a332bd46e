// Times `loalang --help` (process start to exit) over 20 runs: it must answer in well under a second.
// LOALANG_BENCH_SMOKE=1: 3 runs (checks the bench still runs).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const RUNS = SMOKE ? 3 : 20;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const runs = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, '--help'], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('loalang --help failed');
  runs.push(performance.now() - t0);
}
runs.sort((a, b) => a - b);
const q = (p) => runs[Math.min(runs.length - 1, Math.floor(p * runs.length))].toFixed(0);
console.log(`loalang --help: median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms (${RUNS} runs)`);
