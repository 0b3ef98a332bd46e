/**
 * `node <confirmed>/app/bin/loalang-update-guard.mjs --root DIR`: the service's ExecStartPre
 * (deploy/loalang-agent.service). It never stops the agent from starting: whatever goes wrong
 * here is printed (journald) and the start goes on.
 */
import { parseArgs } from 'node:util';
import { BoxLayout } from './box-layout.js';
import { guardStart } from './trial.js';

export function runUpdateGuard(args: string[], now = Date.now()): number {
  try {
    const { values } = parseArgs({ args, options: { root: { type: 'string' } }, strict: true });
    if (!values.root) {
      process.stderr.write('usage: loalang-update-guard --root DIR\n');
      return 0;
    }
    const decision = guardStart(new BoxLayout(values.root), now);
    process.stdout.write(`${JSON.stringify({ msg: 'update guard', ...decision })}\n`);
  } catch (err) {
    process.stderr.write(`update guard failed, starting what "current" names: ${(err as Error).message}\n`);
  }
  return 0;
}
