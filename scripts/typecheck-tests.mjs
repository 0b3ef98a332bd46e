// Type-checks every test project (they are not part of the build graph).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';

const projects = ['protocol', 'firmware-bridge', 'edge-agent', 'broker', 'console', 'cli']
  .map((p) => `${p}/test/tsconfig.json`)
  .concat(['tests/tsconfig.json', 'bench/tsconfig.json'])
  .filter((p) => existsSync(p) && readdirSync(dirname(p), { recursive: true }).some((f) => String(f).endsWith('.test.ts')))
  // The shared test helpers (@loalang/test-kit): checked whether or not they hold tests.
  .concat(['test-kit/tsconfig.json']);
for (const project of projects) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { stdio: 'inherit' });
}
