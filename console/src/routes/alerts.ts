/**
 * Emergency alerts: issue (text spoken by the TTS engine, or a content item), list, view
 * with per-device delivery, a live stream of delivery changes (Server-Sent Events), cancel,
 * and CAP 1.2 ingest. Alert staff and admins act only within their area scope.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { brokerError, ingestCap, totalsOf, type Alert, type DeliveryEvent, type ServerCore } from '@loalang/broker';
import { IdParams, Targets } from '../schemas.js';
import { alertVisible, assertInScope, callerOf, canReadFromArea, deviceInScope, requirePermission, type Caller } from '../auth.js';
import { eventStreams } from '../sse.js';

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

export const alertRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  const streamEvents = eventStreams(app, core);
  const read = requirePermission(core, 'alerts:read');
  const write = requirePermission(core, 'alerts:write');

  const visible = (caller: Caller, alert: Alert, mine = deviceInScope(core, caller)) => alertVisible(core, caller, alert.targets, mine);
  const requireVisible = (caller: Caller, id: string): Alert => {
    const alert = core.alerts.repo.require(id);
    if (!visible(caller, alert)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return alert;
  };
  /** The alert with the deliveries of the caller's devices and their totals. */
  const scopedView = (caller: Caller, id: string) => {
    const view = core.alerts.view(id);
    const mine = deviceInScope(core, caller);
    const deliveries = view.deliveries.filter((d) => mine(d.deviceId));
    return { ...view, deliveries, totals: totalsOf(deliveries) };
  };
  const checkTargets = (caller: Caller, targets: { areaIds: string[]; deviceIds: string[] }) => {
    for (const a of targets.areaIds) assertInScope(caller, core.areas.require(a).id);
    for (const d of targets.deviceIds) assertInScope(caller, core.devices.require(d).areaId);
  };

  app.post('/alerts', { schema: { body: CreateAlertBody, tags: ['alerts'], description: 'Issue an alert now: it cuts into what plays on every target speaker' }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const b = request.body;
    if (!b.text === !b.contentId) throw brokerError('LOA_ERR_INVALID', { en: 'give either text or contentId', vi: 'cần nhập text hoặc contentId (chỉ một trong hai)' });
    checkTargets(caller, b.targets);
    if (b.replaces) requireVisible(caller, b.replaces);
    if (b.expiresAt && Date.parse(b.expiresAt) <= core.clock.now()) throw brokerError('LOA_ERR_INVALID', { en: 'expiresAt is in the past', vi: 'thời điểm hết hạn đã qua' });
    let contentId = b.contentId;
    if (contentId) {
      if (!canReadFromArea(core, caller, core.content.require(contentId).areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    } else {
      const title = b.title ?? b.text!.slice(0, 80);
      contentId = (await core.speakToContent(b.text!, { title, areaId: caller.user.areaId, createdBy: caller.user.id, voice: b.voice ?? 'vi', kind: 'alert' })).id;
    }
    const alert = core.alerts.create({
      title: b.title ?? (b.text ?? core.content.require(contentId).title).slice(0, 200),
      text: b.text ?? null,
      contentId,
      priority: b.priority ?? 'emergency',
      targets: b.targets,
      repeat: b.repeat ?? 1,
      gapMs: (b.gapSec ?? 3) * 1000,
      volume: b.volume ?? null,
      expiresAt: b.expiresAt ? new Date(b.expiresAt).toISOString() : null,
      replaces: b.replaces ?? null,
      cap: null,
      createdBy: caller.user.id,
    });
    // Every target is in the caller's scope (checked above), so the totals need no filtering;
    // the per-device list is for GET /alerts/:id and the event stream.
    return reply.status(201).send(core.alerts.summary(alert.id));
  });

  app.get('/alerts', { schema: { querystring: ListQuery, tags: ['alerts'], description: 'Alerts, newest first, with delivery totals' }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    const mine = deviceInScope(core, caller);
    return core.alerts.repo
      .list(5000)
      .filter((a) => visible(caller, a, mine))
      .slice(0, request.query.limit ?? 100)
      .map((a) => core.alerts.summary(a.id));
  });

  app.get('/alerts/:id', { schema: { params: IdParams, tags: ['alerts'], description: 'An alert with each device\'s delivery state and the totals' }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    requireVisible(caller, request.params.id);
    return scopedView(caller, request.params.id);
  });

  app.post('/alerts/:id/cancel', { schema: { params: IdParams, tags: ['alerts'], description: 'Stop the alert on every speaker' }, preHandler: write }, async (request) => {
    const caller = callerOf(request);
    const alert = requireVisible(caller, request.params.id);
    checkTargets(caller, alert.targets);
    core.alerts.cancel(alert.id);
    return scopedView(caller, alert.id);
  });

  app.get(
    '/alerts/:id/events',
    { schema: { params: IdParams, tags: ['alerts'], description: 'Server-Sent Events: `snapshot` (the alert as GET shows it), then `deliveries` (batches of changes) and `alert` (state changes)' }, preHandler: read },
    async (request, reply) => {
      const caller = callerOf(request);
      const id = request.params.id;
      requireVisible(caller, id);
      const mine = deviceInScope(core, caller);
      streamEvents(request, reply.raw, (send) => {
        send('snapshot', scopedView(caller, id));
        let batch: DeliveryEvent[] = [];
        const flush = setInterval(() => {
          if (batch.length === 0) return;
          send('deliveries', batch);
          batch = [];
        }, SSE_FLUSH_MS);
        const onDelivery = (e: DeliveryEvent) => {
          if (e.alertId === id && mine(e.deviceId)) batch.push(e);
        };
        const onAlert = (a: Alert) => {
          if (a.id === id) send('alert', a);
        };
        core.alerts.on('delivery', onDelivery);
        core.alerts.on('alert', onAlert);
        return () => {
          clearInterval(flush);
          core.alerts.off('delivery', onDelivery);
          core.alerts.off('alert', onAlert);
        };
      });
      reply.hijack();
    },
  );

  app.addContentTypeParser(['application/cap+xml', 'application/xml', 'text/xml'], { parseAs: 'string', bodyLimit: CAP_BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.post(
    '/alerts/cap',
    { schema: { tags: ['alerts'], consumes: ['application/cap+xml', 'application/xml'], description: 'Ingest a CAP 1.2 message (Alert, Update, Cancel) from an allow-listed sender' }, preHandler: write },
    async (request, reply) => {
      const caller = callerOf(request);
      if (typeof request.body !== 'string') throw brokerError('LOA_ERR_INVALID', { en: 'send the CAP XML as application/cap+xml', vi: 'gửi CAP XML với Content-Type application/cap+xml' });
      const result = await ingestCap(core, request.body, { userId: caller.user.id, areaId: caller.user.areaId, scope: caller.scope }, core.capSenders);
      request.log.info({ identifier: result.identifier, action: result.action, reason: result.reason }, 'CAP message handled');
      const alerts = result.alerts.map((a) => scopedView(caller, a.id));
      return reply.status(result.action === 'created' || result.action === 'updated' ? 201 : result.action === 'ignored' ? 202 : 200).send({ ...result, alerts });
    },
  );
};
