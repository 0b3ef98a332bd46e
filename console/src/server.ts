/** `loalang server`: broker + console + scheduler on one SQLite file. Creates, listens, closes. */
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger as PinoLogger } from 'pino';
import { ServerCore, type TlsMaterial } from '@loalang/broker';
import type { Clock } from '@loalang/protocol';
import { buildApp } from './app.js';
import { bootstrapAdmin, type BootstrapResult } from './bootstrap.js';
import type { PublicUrls } from './agent-config.js';
import { mapFromEnv, publicUrlsFromEnv, serverSettingsFromEnv, type ServerSettings } from './server-env.js';

export interface ServerOptions {
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  host?: string;
  /** Host name or address devices use to reach this server (default: LOALANG_PUBLIC_HOST, else the first LAN IPv4). */
  publicHost?: string;
  logger?: PinoLogger;
  maxUploadBytes?: number;
  /** Default: read from the environment (serverSettingsFromEnv). */
  settings?: ServerSettings;
  /** The URLs devices are given, when not this server's own (default: LOALANG_PUBLIC_HTTP_URL and LOALANG_PUBLIC_MQTT_URL). */
  publicUrls?: { http?: string; mqtt?: string };
  /** HTTPS and MQTT over TLS with this certificate and key; absent: plain HTTP and MQTT. */
  tls?: TlsMaterial;
  /** The server's clock (default the system's): a test runs it on a clock of its own, e.g. through a compressed day. */
  clock?: Clock;
}

export interface RunningServer {
  core: ServerCore;
  app: FastifyInstance;
  urls: PublicUrls;
  httpPort: number;
  mqttPort: number;
  bootstrap: BootstrapResult;
  stop(): Promise<void>;
}

function defaultPublicHost(): string {
  const fromEnv = process.env['LOALANG_PUBLIC_HOST'];
  if (fromEnv) return fromEnv;
  for (const list of Object.values(networkInterfaces())) {
    for (const addr of list ?? []) if (addr.family === 'IPv4' && !addr.internal) return addr.address;
  }
  return '127.0.0.1';
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: process.env['LOALANG_LOG_LEVEL'] ?? 'info' });
  const host = options.host ?? '0.0.0.0';
  const publicHost = options.publicHost ?? (host === '0.0.0.0' || host === '::' ? defaultPublicHost() : host);
  let urls: PublicUrls = { http: '', mqtt: '' };
  const settings = options.settings ?? serverSettingsFromEnv();
  const publicUrls = options.publicUrls ?? publicUrlsFromEnv();
  if (settings.cluster && !publicUrls.http) {
    throw new Error('LOALANG_PUBLIC_HTTP_URL: mỗi nút của cụm phải cho thiết bị cùng một địa chỉ tải nội dung (ví dụ địa chỉ bộ cân bằng tải) / every node of a cluster must give devices the same content address (e.g. the load balancer\'s)');
  }
  const core = await ServerCore.create({
    ...settings,
    dataDir: options.dataDir,
    mqttHost: host,
    mqttPort: options.mqttPort,
    publicHttpUrl: () => urls.http,
    logger: logger.child({ module: 'broker' }),
    ...(options.tls ? { mqttTls: options.tls } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const app = await buildApp({
    core,
    urls: () => urls,
    logger: logger.child({ module: 'console' }),
    ...(options.tls ? { https: options.tls } : {}),
    ...(options.maxUploadBytes ? { maxUploadBytes: options.maxUploadBytes } : {}),
    map: mapFromEnv(),
  });
  try {
    await core.start();
    const bootstrap = await core.exclusively(() => bootstrapAdmin(core));
    await app.listen({ port: options.httpPort, host });
    const address = app.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : options.httpPort;
    const own = options.tls
      ? { http: `https://${publicHost}:${httpPort}`, mqtt: `mqtts://${publicHost}:${core.mqttPort}` }
      : { http: `http://${publicHost}:${httpPort}`, mqtt: `mqtt://${publicHost}:${core.mqttPort}` };
    urls = { ...own, ...publicUrls };
    // Devices that connected before the URL was known get their state again with the right URLs.
    void core.refreshDevices((await core.devices.list()).map((d) => d.id));
    let stopping: Promise<void> | null = null;
    return {
      core,
      app,
      urls,
      httpPort,
      mqttPort: core.mqttPort,
      bootstrap,
      stop: () => {
        stopping ??= (async () => {
          await app.close();
          await core.stop();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await app.close().catch(() => undefined);
    await core.stop().catch(() => undefined);
    throw err;
  }
}
