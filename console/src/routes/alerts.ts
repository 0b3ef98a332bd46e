/**
 * Emergency alerts: issue (text spoken by the TTS engine, or a content item), list, view
 * with per-device delivery, a live stream of delivery changes (Server-Sent Events), cancel,
 * and CAP 1.2 ingest. Alert staff and admins act only within their area scope.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { brokerError, deviceInScope, ingestCap, type Alert, type DeliveryEvent, type ServerServices } from '@loalang/broker';
import { IdParams, Targets } from '../schemas.js';
import type { Send } from '../sse.js';
import { callerOf, requirePermission } from '../auth.js';
import { eventStreams } from '../sse.js';
import { AlertSummarySchema, AlertViewSchema, CapAnswerSchema, created, notJson, ok } from '../responses/index.js';

const AreaRef = IdParams.properties.id;

export const CreateAlertBody = Type.Object(
  {
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 5000, description: 'spoken by the TTS engine (Vietnamese by default)' })),
    voice: Type.Optional(Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9_+-]+$' })),
    contentId: Type.Optional(AreaRef),
    targets: Targets,
    repeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 1 })),
    gapSec: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 3, description: 'silence between repetitions' })),
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'default: one hour from now' })),
    priority: Type.Optional(Type.Union([Type.Literal('emergency'), Type.Literal('priority')], { description: 'emergency (default) cuts into what plays; priority waits for it to end' })),
    replaces: Type.Optional(Type.String({ ...AreaRef, description: 'an update: the alert it replaces stops, this one plays instead' })),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false });

const CAP_BODY_LIMIT = 10 * 1024 * 1024;
/** Live delivery changes are sent in batches this often: at 10k devices one event each would flood a phone. */
const SSE_FLUSH_MS = 200;

export const alertRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const streamEvents = eventStreams(app, core);
  const read = requirePermission(core, 'alerts:read');
  const write = requirePermission(core, 'alerts:write');

  const desk = core.alertDesk;

  app.post('/alerts', { schema: { body: CreateAlertBody, tags: ['alerts'], description: 'Issue an alert now: it cuts into what plays on every target speaker', response: created(AlertSummarySchema) }, preHandler: write }, async (request, reply) =>
    reply.status(201).send(await desk.issue(callerOf(request), request.body)),
  );

  app.get('/alerts', { schema: { querystring: ListQuery, tags: ['alerts'], description: 'Alerts, newest first, with delivery totals', response: ok(Type.Array(AlertSummarySchema)) }, preHandler: read }, async (request) =>
    await desk.list(callerOf(request), request.query.limit ?? 100),
  );

  app.get('/alerts/:id', { schema: { params: IdParams, tags: ['alerts'], description: 'An alert with each device\'s delivery state and the totals', response: ok(AlertViewSchema) }, preHandler: read }, async (request) =>
    await desk.view(callerOf(request), request.params.id),
  );

  app.post('/alerts/:id/cancel', { schema: { params: IdParams, tags: ['alerts'], description: 'Stop the alert on every speaker', response: ok(AlertViewSchema) }, preHandler: write }, async (request) =>
    await desk.cancel(callerOf(request), request.params.id),
  );

  app.get(
    '/alerts/:id/events',
    { schema: { params: IdParams, tags: ['alerts'], description: 'Server-Sent Events: `snapshot` (the alert as GET shows it), then `deliveries` (batches of changes) and `alert` (state changes)', response: notJson('text/event-stream', 'Server-Sent Events') }, preHandler: read },
    async (request, reply) => {
      const caller = callerOf(request);
      const id = request.params.id;
      const mine = await deviceInScope(core.devices, caller);
      // Listening starts before the snapshot is read, so no change made while it is read is
      // lost: changes are held and sent after it (one it already shows changes nothing, as a
      // delivery only moves forward).
      let batch: DeliveryEvent[] = [];
      let send: Send | null = null;
      const early: Alert[] = [];
      const onDelivery = (e: DeliveryEvent) => {
        if (e.alertId === id && mine(e.deviceId)) batch.push(e);
      };
      const onAlert = (a: Alert) => {
        if (a.id !== id) return;
        if (send) send('alert', a);
        else early.push(a);
      };
      core.live.on('delivery', onDelivery);
      core.live.on('alert', onAlert);
      const stop = () => {
        core.live.off('delivery', onDelivery);
        core.live.off('alert', onAlert);
      };
      let snapshot;
      try {
        snapshot = await desk.view(caller, id);
      } catch (err) {
        stop();
        throw err;
      }
      if (request.raw.socket.destroyed) {
        // Gone while the snapshot was read: no stream to open, and no close event to come.
        stop();
        reply.hijack();
        return;
      }
      streamEvents(request, reply.raw, (s) => {
        s('snapshot', snapshot);
        for (const a of early) s('alert', a);
        send = s;
        const flush = setInterval(() => {
          if (batch.length === 0) return;
          s('deliveries', batch);
          batch = [];
        }, SSE_FLUSH_MS);
        return () => {
          clearInterval(flush);
          stop();
        };
      });
      reply.hijack();
    },
  );

  app.addContentTypeParser(['application/cap+xml', 'application/xml', 'text/xml'], { parseAs: 'string', bodyLimit: CAP_BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.post(
    '/alerts/cap',
    { schema: { tags: ['alerts'], consumes: ['application/cap+xml', 'application/xml'], description: 'Ingest a CAP 1.2 message (Alert, Update, Cancel) from an allow-listed sender', response: { ...created(CapAnswerSchema), 200: CapAnswerSchema, 202: CapAnswerSchema } }, preHandler: write },
    async (request, reply) => {
      const caller = callerOf(request);
      if (typeof request.body !== 'string') throw brokerError('LOA_ERR_INVALID', { en: 'send the CAP XML as application/cap+xml', vi: 'gửi CAP XML với Content-Type application/cap+xml' });
      const result = await ingestCap(core, request.body, { userId: caller.user.id, areaId: caller.user.areaId, scope: caller.scope }, core.capSenders);
      request.log.info({ identifier: result.identifier, action: result.action, reason: result.reason }, 'CAP message handled');
      const alerts = [];
      for (const a of result.alerts) alerts.push(await desk.scopedView(caller, a.id));
      return reply.status(result.action === 'created' || result.action === 'updated' ? 201 : result.action === 'ignored' ? 202 : 200).send({ ...result, alerts });
    },
  );
};
