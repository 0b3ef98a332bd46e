/**
 * One real agent in a process of its own, its clock `shiftMs` off real time (a box whose NTP never
 * worked), with the simulated amplifier board. Tests that compare two speakers' starts to the
 * millisecond run each in its own process, as in the field: agents sharing the test's event loop
 * with the server wait for each other's turns. Runs the built packages (`npm test` builds first).
 *
 * Usage: node shifted-agent.mjs '{"config":{…raw agent config…},"root":"…","shiftMs":300}'
 * Stops cleanly on SIGTERM or when its stdin closes. Logs (pino JSON) on stdout, at AGENT_LOG_LEVEL (info).
 *
 * Its clock can be changed while it runs, by JSON lines on stdin:
 * - `{"stepMs": N}`: the clock jumps N ms (an NTP step, a technician's `date -s`); the box's
 *   monotonic clock (performance.now, which Linux never steps) does not;
 * - `{"driftPpm": N}`: from now on both run N parts per million fast (a poor crystal; negative: slow).
 */
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { systemClock } from '@loalang/protocol';
import { pino } from 'pino';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';

const { config, root, shiftMs: initialShiftMs } = JSON.parse(process.argv[2] ?? '{}');
let shiftMs = initialShiftMs;
let drift = { ppm: 0, fromMs: performance.now(), baseMs: 0 };
const driftMs = () => drift.baseMs + ((performance.now() - drift.fromMs) * drift.ppm) / 1e6;
const clock = { now: () => Date.now() + shiftMs + driftMs(), setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
const monotonic = () => performance.now() + driftMs();
const agent = await Agent.create(parseAgentConfig(config, root), { amplifier: createSimulatedAmplifier(), exit: () => undefined, clock, monotonic, logger: pino({ level: process.env['AGENT_LOG_LEVEL'] ?? 'info' }) });
let stopping = null;
const stop = () => (stopping ??= agent.stop().finally(() => process.exit(0)));
process.once('SIGTERM', stop);
createInterface({ input: process.stdin }).on('line', (line) => {
  const change = JSON.parse(line);
  if (typeof change.stepMs === 'number') shiftMs += change.stepMs;
  if (typeof change.driftPpm === 'number') drift = { ppm: change.driftPpm, fromMs: performance.now(), baseMs: driftMs() };
});
process.stdin.on('end', stop).resume();
await agent.start();
