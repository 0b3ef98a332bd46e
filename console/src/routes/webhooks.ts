/**
 * Webhooks for integrators (issue 21 item 5): admins subscribe URLs to events inside their
 * areas. The secret is in the answers of create and rotate only; the delivery log is paged,
 * newest first. Changes are audited by the audit hook (the secret is never in a request body).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerServices } from '@loalang/broker';
import { CreateWebhookBody, DeliveryIdParams, IdParams, UpdateWebhookBody, WebhookDeliveriesQuery } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { accepted, created, noContent, ok, WebhookDeliverySchema, WebhookSchema, WebhookSecretSchema } from '../responses/index.js';

const tags = ['webhooks'];

export const webhookRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'webhooks:read');
  const write = requirePermission(core, 'webhooks:write');
  const desk = core.webhooks;

  app.get('/webhooks', { schema: { tags, response: ok(Type.Array(WebhookSchema)) }, preHandler: read }, async (request) => desk.list(callerOf(request)));

  app.post('/webhooks', { schema: { body: CreateWebhookBody, tags, description: 'A subscription and its signing secret, shown in this answer only', response: created(WebhookSecretSchema) }, preHandler: write }, async (request, reply) =>
    reply.status(201).send(await desk.create(callerOf(request), request.body)),
  );

  app.get('/webhooks/:id', { schema: { params: IdParams, tags, response: ok(WebhookSchema) }, preHandler: read }, async (request) => desk.visible(callerOf(request), request.params.id));

  app.patch('/webhooks/:id', { schema: { params: IdParams, body: UpdateWebhookBody, tags, response: ok(WebhookSchema) }, preHandler: write }, async (request) =>
    desk.update(callerOf(request), request.params.id, request.body),
  );

  app.delete('/webhooks/:id', { schema: { params: IdParams, tags, description: 'Nothing more is sent; deliveries still pending are dropped', response: noContent() }, preHandler: write }, async (request, reply) => {
    await desk.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });

  app.post(
    '/webhooks/:id/rotate-secret',
    { schema: { params: IdParams, tags, description: 'A new secret, shown in this answer only; every delivery from now on (pending ones too) is signed with it', response: ok(WebhookSecretSchema) }, preHandler: write },
    async (request) => desk.rotateSecret(callerOf(request), request.params.id),
  );

  app.post('/webhooks/:id/ping', { schema: { params: IdParams, tags, description: 'Queues a `webhook.ping` to this webhook; follow it in the delivery log', response: accepted(WebhookDeliverySchema) }, preHandler: write }, async (request, reply) =>
    reply.status(202).send(await desk.ping(callerOf(request), request.params.id)),
  );

  app.get(
    '/webhooks/:id/deliveries',
    { schema: { params: IdParams, querystring: WebhookDeliveriesQuery, tags, description: 'The delivery log, newest first; pass the last id as `beforeId` for the next page', response: ok(Type.Array(WebhookDeliverySchema)) }, preHandler: read },
    async (request) => desk.deliveries(callerOf(request), request.params.id, request.query),
  );

  app.post(
    '/webhooks/deliveries/:deliveryId/retry',
    { schema: { params: DeliveryIdParams, tags, description: 'Sends a failed or dropped delivery again, now', response: accepted(WebhookDeliverySchema) }, preHandler: write },
    async (request, reply) => reply.status(202).send(await desk.retry(callerOf(request), request.params.deliveryId)),
  );
};
