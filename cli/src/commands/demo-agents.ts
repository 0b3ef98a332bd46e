/** The demo's simulated speaker clusters: real agents in-process, each with a simulated board and a file sink. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Area } from '@loalang/broker';
import type { RunningServer } from '@loalang/console';
import { Agent, parseAgentConfig } from '@loalang/edge-agent';
import { openAmplifier } from '@loalang/firmware-bridge';

export interface DemoAgent {
  deviceId: string;
  name: string;
  stop(): Promise<void>;
}

/** Made-up positions a few kilometres apart, so the console's map has something to show. */
const demoPosition = (i: number) => ({ lat: 16.75 + (i % 4) * 0.018 + Math.floor(i / 4) * 0.006, lon: 107.18 + (i % 3) * 0.024 });

export async function startDemoAgents(opts: { server: RunningServer; count: number; communes: Area[]; dataDir: string; logger: Logger }): Promise<DemoAgent[]> {
  const { server, count, communes, dataDir, logger } = opts;
  const agents: DemoAgent[] = [];
  for (let i = 0; i < count; i++) {
    const commune = communes[i % communes.length]!;
    const name = `Loa ${commune.name} ${Math.floor(i / communes.length) + 1}`;
    const { device, secret } = await server.core.devices.create({ name, areaId: commune.id });
    await server.core.devices.update(device.id, { position: demoPosition(i) });
    const slug = `speaker-${i + 1}`;
    const sinkDir = join(dataDir, 'sink', slug);
    await mkdir(sinkDir, { recursive: true });
    const config = parseAgentConfig(
      {
        deviceId: device.id,
        password: secret,
        mqttUrl: server.urls.mqtt,
        httpUrl: server.urls.http,
        cacheDir: join(dataDir, 'agents', slug),
        serial: { simulate: true },
        audioSink: `file:${sinkDir}`,
        warmupMs: 500,
        tailMs: 1000,
        serverKeys: server.core.signer.trusted(),
      },
      dataDir,
    );
    const amplifier = await openAmplifier({ simulate: true });
    const agent = await Agent.create(config, { amplifier, logger: logger.child({ module: 'agent', device: slug }) });
    await agent.start();
    agents.push({ deviceId: device.id, name, stop: () => agent.stop() });
  }
  return agents;
}
