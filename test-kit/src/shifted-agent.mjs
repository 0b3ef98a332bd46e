/**
 * One real agent in a process of its own, its clock `shiftMs` off real time (a box whose NTP never
 * worked), with the simulated amplifier board. Tests that compare two speakers' starts to the
 * millisecond run each in its own process, as in the field: agents sharing the test's event loop
 * with the server wait for each other's turns. Runs the built packages (`npm test` builds first).
 *
 * Usage: node shifted-agent.mjs '{"config":{…raw agent config…},"root":"…","shiftMs":300}'
 * Stops cleanly on SIGTERM or when its stdin closes. Logs (pino JSON) on stdout, at AGENT_LOG_LEVEL (info).
 */
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { createSimulatedAmplifier } from '@loalang/firmware-bridge';
import { systemClock } from '@loalang/protocol';
import { pino } from 'pino';

const { config, root, shiftMs } = JSON.parse(process.argv[2] ?? '{}');
const clock = { now: () => Date.now() + shiftMs, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
const agent = await Agent.create(parseAgentConfig(config, root), { amplifier: createSimulatedAmplifier(), exit: () => undefined, clock, logger: pino({ level: process.env['AGENT_LOG_LEVEL'] ?? 'info' }) });
let stopping = null;
const stop = () => (stopping ??= agent.stop().finally(() => process.exit(0)));
process.once('SIGTERM', stop);
process.stdin.on('end', stop).resume();
await agent.start();
