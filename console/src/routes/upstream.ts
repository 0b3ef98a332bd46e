/**
 * The upstream reporting connector (issue 21, item 3), for admins: its state (what waits, the last
 * error), a push now, the delivery log of the `upstream` channel, and sending a given-up message
 * again. The connector itself is configured by environment (README: LOALANG_UPSTREAM_*).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { brokerError, UPSTREAM_CHANNEL, type OutboxMessage, type ServerServices, type UpstreamConnector } from '@loalang/broker';
import { IdParams, OutboxListQuery, UpstreamPushBody } from '../schemas.js';
import { requirePermission } from '../auth.js';
import { ok, OutboxMessageSchema, OutboxMessageWithBodySchema, UpstreamPushSchema, UpstreamStatusSchema } from '../responses/index.js';

const tags = ['integration'];

export const outboxView = ({ body, dedupeKey: _key, ...m }: OutboxMessage) => ({ ...m, bytes: Buffer.byteLength(body) });

function connector(core: ServerServices): UpstreamConnector {
  if (!core.upstream) throw brokerError('LOA_ERR_INVALID', { en: 'the upstream connector is not configured (LOALANG_UPSTREAM_URL)', vi: 'chưa cấu hình kết nối lên hệ thống thông tin nguồn (LOALANG_UPSTREAM_URL)' });
  return core.upstream;
}

async function upstreamMessage(core: ServerServices, id: string): Promise<OutboxMessage> {
  const m = await core.outbox.get(id);
  if (!m || m.channel !== UPSTREAM_CHANNEL) throw brokerError('LOA_ERR_NOT_FOUND', { en: `upstream message ${id}`, vi: `bản tin gửi lên ${id}` });
  return m;
}

export const upstreamRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'integration:read');
  const write = requirePermission(core, 'integration:write');

  app.get('/upstream', { schema: { tags, description: 'The connector: where it sends, its mapping, what waits and the last error', response: ok(UpstreamStatusSchema) }, preHandler: read }, async () =>
    core.upstream
      ? core.upstream.status()
      : { enabled: false, url: null, mapping: null, kinds: [], everyMinutes: null, counts: {}, oldestPendingAt: null, lastError: null, lastDeliveredAt: null },
  );

  app.post(
    '/upstream/push',
    { schema: { body: Type.Optional(UpstreamPushBody), tags, description: 'Writes to the outbox now what changed of these kinds (default all), and sends it', response: ok(UpstreamPushSchema) }, preHandler: write },
    async (request) => ({ outcomes: await connector(core).push(request.body ?? {}) }),
  );

  app.get('/upstream/messages', { schema: { querystring: OutboxListQuery, tags, description: 'The delivery log of the upstream channel, newest first', response: ok(Type.Array(OutboxMessageSchema)) }, preHandler: read }, async (request) => {
    const { state, kind, limit, before } = request.query;
    const messages = await core.outbox.list({ channel: UPSTREAM_CHANNEL, ...(state ? { state } : {}), ...(kind ? { kind } : {}), limit: limit ?? 50, ...(before ? { beforeId: before } : {}) });
    return messages.map(outboxView);
  });

  app.get('/upstream/messages/:id', { schema: { params: IdParams, tags, description: 'One message with the body sent', response: ok(OutboxMessageWithBodySchema) }, preHandler: read }, async (request) => {
    const m = await upstreamMessage(core, request.params.id);
    return { ...outboxView(m), body: m.body };
  });

  app.post('/upstream/messages/:id/retry', { schema: { params: IdParams, tags, description: 'A failed message is sent again', response: ok(OutboxMessageSchema) }, preHandler: write }, async (request) => {
    await upstreamMessage(core, request.params.id);
    const m = await core.outbox.retry(request.params.id);
    core.outboxSender.kick();
    return outboxView(m);
  });
};
