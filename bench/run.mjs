// Runs every benchmark in this folder in turn; each prints its own figures. Never part of pass/fail.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
for (const file of readdirSync(here).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs').sort()) {
  if (only && !file.includes(only)) continue;
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, [here + file], { stdio: 'inherit' });
  if (r.status !== 0) console.log(`(${file} exited ${r.status})`);
}
