// Runs every benchmark in this folder in turn; each prints its own figures. Never part of pass/fail
// of `npm test`, but this runner exits non-zero when any benchmark failed.
//   node bench/run.mjs [name]          all benchmarks, or those whose file name contains `name`
//   node bench/run.mjs --list          the benchmark files, one a line (tests/bench-smoke.test.ts)
//   LOALANG_BENCH_SMOKE=1 node bench/run.mjs    each at its smallest size (figures not comparable)
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
// Helpers of a benchmark (alert-fanout-worker.mjs, and bench/lib/ shared by several) are not benchmarks of their own.
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && !f.endsWith('-worker.mjs'))
  .sort();

const arg = process.argv[2];
if (arg === '--list') {
  console.log(benches.join('\n'));
  process.exit(0);
}
const chosen = benches.filter((f) => !arg || f.includes(arg));
if (chosen.length === 0) {
  console.error(`no benchmark matches "${arg}" (have: ${benches.join(', ')})`);
  process.exit(2);
}
const failed = [];
for (const file of chosen) {
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, [here + file], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed.push(file);
    console.log(`(${file} ${r.signal ? `killed by ${r.signal}` : `exited ${r.status}`})`);
  }
}
if (failed.length) {
  console.error(`\n${failed.length} of ${chosen.length} benchmarks failed: ${failed.join(', ')}`);
  process.exit(1);
}
