/** The console as a Fastify plugin tree; server.ts only creates, listens and closes. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import websocket from '@fastify/websocket';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { brokerError } from '@loalang/broker';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ServerServices, TlsMaterial } from '@loalang/broker';
import { registerErrorHandler } from './errors.js';
import { registerJsonParser } from './validation-text.js';
import { authRoutes } from './routes/auth.js';
import { userRoutes } from './routes/users.js';
import { serviceAccountRoutes } from './routes/service-accounts.js';
import { webhookRoutes } from './routes/webhooks.js';
import { areaRoutes } from './routes/areas.js';
import { deviceRoutes } from './routes/devices.js';
import { deviceRegistryRoutes } from './routes/device-registry.js';
import { contentRoutes } from './routes/content.js';
import { scheduleRoutes } from './routes/schedules.js';
import { reportRoutes } from './routes/reports.js';
import { opsRoutes } from './routes/ops.js';
import { alarmRoutes } from './routes/alarms.js';
import { alertRoutes } from './routes/alerts.js';
import { bulletinRoutes } from './routes/bulletins.js';
import { liveRoutes } from './routes/live.js';
import { eventRoutes } from './routes/events.js';
import { upstreamRoutes } from './routes/upstream.js';
import { auditRoutes } from './routes/audit.js';
import { signingKeyRoutes } from './routes/signing-keys.js';
import { updateRoutes } from './routes/updates.js';
import { registerAuditHook } from './audit-hook.js';
import { helmetOptions } from './security-headers.js';
import { homePage } from './home.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { PublicUrls } from './agent-config.js';
import type { MapSettings } from './server-env.js';
import { ok, SettingsSchema } from './responses/index.js';

export interface AppOptions {
  core: ServerServices;
  urls: () => PublicUrls;
  maxUploadBytes?: number;
  /** A pino logger for requests; none in tests. */
  logger?: FastifyBaseLogger;
  /** HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  https?: TlsMaterial;
  /** Map tiles behind device positions in the web console; absent: positions on a plain grid. */
  map?: MapSettings | null;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024;

/** `web/dist` next to this package in the repository (console/dist → ../../web/dist). */
const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    ...(options.https ? { https: { cert: options.https.cert, key: options.https.key, minVersion: 'TLSv1.2' as const } } : {}),
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorateRequest('caller', null);
  app.decorateRequest('auditExtra', null);
  registerErrorHandler(app);
  registerJsonParser(app);
  // Security headers on every answer; no CORS plugin, so browsers refuse cross-origin calls.
  const tileOrigin = options.map ? new URL(options.map.tileUrl.replace(/\{[a-z]\}/g, '0')).origin : null;
  await app.register(helmet, helmetOptions({ tls: options.https !== undefined, tileOrigin }));
  // Limits only where a route asks for one (login); the error speaks both languages.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => brokerError('LOA_ERR_RATE_LIMITED', { en: `retry in ${Math.ceil(context.ttl / 1000)} s`, vi: `thử lại sau ${Math.ceil(context.ttl / 1000)} giây` }),
  });
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  // Live announcements' feed (issue 18): one Opus frame per message, so small messages only.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 1, fields: 10, parts: 12 } });
  await app.register(swagger, {
    openapi: {
      info: { title: 'LoaLang API', version: '1', description: 'Commune radio loudspeaker networks. Errors: {error: {code, message, messageVi}}.' },
      // A session token from /auth/login, or a service account's key (issue 21) either way.
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  // Swagger UI sets its own Content-Security-Policy for its pages.
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  const core = options.core;
  await app.register(
    async (api) => {
      registerAuditHook(api, core);
      await api.register(authRoutes, { core });
      await api.register(userRoutes, { core });
      await api.register(serviceAccountRoutes, { core });
      await api.register(webhookRoutes, { core });
      await api.register(areaRoutes, { core });
      await api.register(deviceRoutes, { core, urls: options.urls });
      await api.register(deviceRegistryRoutes, { core });
      await api.register(contentRoutes, { core, maxUploadBytes });
      await api.register(scheduleRoutes, { core });
      await api.register(bulletinRoutes, { core });
      await api.register(reportRoutes, { core });
      await api.register(alarmRoutes, { core });
      await api.register(alertRoutes, { core });
      await api.register(eventRoutes, { core });
      await api.register(liveRoutes, { core });
      api.get('/settings', { schema: { tags: ['ops'], description: 'What the web console needs to know about this server: the map tile template, if any', response: ok(SettingsSchema) } }, async () => ({
        mapTileUrl: options.map?.tileUrl ?? null,
        mapAttribution: options.map?.attribution ?? null,
      }));
      await api.register(signingKeyRoutes, { core });
      await api.register(updateRoutes, { core });
      await api.register(upstreamRoutes, { core });
      await api.register(auditRoutes, { core });
    },
    { prefix: '/api/v1' },
  );
  await app.register(opsRoutes, { core });
  // The web console, built by the install command into web/dist; served from here, no CDN.
  if (existsSync(join(WEB_DIST, 'index.html'))) {
    await app.register(fastifyStatic, { root: WEB_DIST, prefix: '/', index: 'index.html', decorateReply: false, wildcard: false, maxAge: '1h', setHeaders: (res, path) => {
        if (path.endsWith('.html')) res.setHeader('cache-control', 'no-cache');
      },
    });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(homePage()));
  }
  return app;
}
