/** `loalang agent --config FILE`: the daemon, stopped cleanly by SIGINT/SIGTERM. */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openAmplifier } from '@loalang/firmware-bridge';
import { loadAgentConfig } from './config.js';
import { Agent } from './agent.js';
import { LogRing } from './health/log-ring.js';
import { serviceWatchdog, systemdNotify } from './health/watchdog.js';
import { installFailpointFromEnv } from './update/failpoint.js';
import { systemClock } from '@loalang/protocol';

/** The release this code runs from (`<installRoot>/releases/<version>/app/…`, issue 20), if it does. */
function releaseVersion(): string | undefined {
  return /[/\\]releases[/\\]([^/\\]+)[/\\]app[/\\]/.exec(realpathSync(fileURLToPath(import.meta.url)))?.[1];
}

export async function runAgent(configPath: string): Promise<void> {
  const config = await loadAgentConfig(configPath);
  // Logs go to stdout (journald) and to a ring of the last 1,000 lines a technician can fetch remotely.
  const ring = new LogRing();
  const level = config.logLevel ?? process.env['LOALANG_LOG_LEVEL'] ?? 'info';
  const quiet = level !== 'trace' && level !== 'debug';
  const streams: pino.StreamEntry[] = [{ stream: ring, level: 'info' }];
  if (level !== 'silent') streams.push({ stream: process.stdout, level: level as pino.Level });
  const logger = pino({ level: quiet ? 'info' : level }, pino.multistream(streams)).child({ device: config.deviceId });
  const amplifier = await openAmplifier(config.serial, { logger: logger.child({ module: 'amp' }) });
  const version = releaseVersion();
  const updateFailpoint = installFailpointFromEnv(process.env);
  const agent = await Agent.create(config, { amplifier, logger, logs: () => ring.lines(), ...(version ? { version } : {}), ...(updateFailpoint ? { updateFailpoint } : {}) });
  await agent.start();
  const watchdog = serviceWatchdog(process.env, systemClock, systemdNotify(logger));
  watchdog.ready();
  logger.info({ mqttUrl: config.mqttUrl, ...(version ? { version } : {}) }, 'agent started');
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  logger.info({}, 'agent stopping');
  watchdog.stop();
  await agent.stop();
}

/**
 * The agent's command line, shared by `loalang agent` and a release bundle's start script:
 * `--config FILE`. Returns the exit code.
 */
export async function runAgentCommand(args: string[]): Promise<number> {
  let config: string | undefined;
  try {
    config = parseArgs({ args, options: { config: { type: 'string' } }, strict: true }).values.config;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
  }
  if (!config) {
    process.stderr.write('usage: loalang agent --config FILE\n');
    return 2;
  }
  await runAgent(resolve(config));
  return 0;
}
