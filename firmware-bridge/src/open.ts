/** Builds the amplifier controller an agent config asks for. */
import { silentLogger, type Logger } from '@loalang/protocol';
import type { AmplifierController } from './amplifier.js';
import { BoardDriver, type DriverOptions } from './driver.js';
import { ModbusRelayDriver, type RelayCoilMap } from './modbus-relay.js';
import { createLinkPair, NodeSerialLink } from './serial-link.js';
import { BoardSimulator } from './simulator.js';

export type AmplifierConfig =
  | { path: string; baudRate?: number; driver?: 'loalang' | 'modbus-relay'; unitId?: number; coils?: RelayCoilMap }
  | { simulate: true };

/** A driver talking to an in-process simulated board; start/stop run both. */
export class SimulatedAmplifier extends BoardDriver {
  constructor(
    readonly simulator: BoardSimulator,
    link: ConstructorParameters<typeof BoardDriver>[0],
    options: DriverOptions,
  ) {
    super(link, options);
  }

  override async start(): Promise<void> {
    await this.simulator.start();
    await super.start();
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.simulator.stop();
  }
}

export function createSimulatedAmplifier(options: DriverOptions = {}): SimulatedAmplifier {
  const [driverEnd, boardEnd] = createLinkPair();
  return new SimulatedAmplifier(new BoardSimulator(boardEnd), driverEnd, options);
}

export async function openAmplifier(config: AmplifierConfig, opts: { logger?: Logger } = {}): Promise<AmplifierController> {
  const logger = opts.logger ?? silentLogger;
  if ('simulate' in config) return createSimulatedAmplifier({ logger });
  if (config.driver === 'modbus-relay') {
    return new ModbusRelayDriver({
      path: config.path,
      baudRate: config.baudRate ?? 9600,
      logger,
      ...(config.unitId !== undefined ? { unitId: config.unitId } : {}),
      ...(config.coils ? { coils: config.coils } : {}),
    });
  }
  return new BoardDriver(new NodeSerialLink(config.path, config.baudRate ?? 115200), { logger });
}
