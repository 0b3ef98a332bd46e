/** `loalang agent --config FILE`: the daemon, stopped cleanly by SIGINT/SIGTERM. */
import { pino } from 'pino';
import { openAmplifier } from '@loalang/firmware-bridge';
import { loadAgentConfig } from './config.js';
import { Agent } from './agent.js';

export async function runAgent(configPath: string): Promise<void> {
  const config = await loadAgentConfig(configPath);
  const logger = pino({ level: config.logLevel ?? process.env['LOALANG_LOG_LEVEL'] ?? 'info' }).child({ device: config.deviceId });
  const amplifier = await openAmplifier(config.serial, { logger: logger.child({ module: 'amp' }) });
  const agent = await Agent.create(config, { amplifier, logger });
  await agent.start();
  logger.info({ mqttUrl: config.mqttUrl }, 'agent started');
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  logger.info({}, 'agent stopping');
  await agent.stop();
}
