/**
 * A failpoint for the fault tests of installing an update (issue 20): with
 * `LOALANG_TEST_KILL_AT=<step>:<marker file>` the agent kills itself (SIGKILL: no handler, no
 * flush, as a power cut or the OOM killer would) the first time it reaches `step`, and writes the
 * marker first so that the start after it goes on. The same as a kill from outside at that exact
 * instant, which a test could not time. Unset (every box): nothing happens.
 */
import { existsSync, writeFileSync } from 'node:fs';

export const INSTALL_STEPS = ['downloaded', 'unpacked', 'switched', 'before-confirm'] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];
export type InstallFailpoint = (step: InstallStep) => void;

export function installFailpointFromEnv(env: NodeJS.ProcessEnv, kill: () => void = () => process.kill(process.pid, 'SIGKILL')): InstallFailpoint | undefined {
  const spec = env['LOALANG_TEST_KILL_AT'];
  if (!spec) return undefined;
  const at = spec.indexOf(':');
  const step = spec.slice(0, at) as InstallStep;
  const marker = spec.slice(at + 1);
  if (at < 1 || !marker || !INSTALL_STEPS.includes(step)) throw new Error(`LOALANG_TEST_KILL_AT must be <step>:<marker file>, step one of ${INSTALL_STEPS.join(', ')}`);
  return (reached) => {
    if (reached !== step || existsSync(marker)) return;
    writeFileSync(marker, `${new Date().toISOString()} killed at ${step}\n`);
    kill();
  };
}
