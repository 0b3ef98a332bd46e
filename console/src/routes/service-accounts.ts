/**
 * Service accounts (issue 21): API keys for machines, managed by admins inside their areas. The
 * key is in the answer of create and rotate only; lists show its prefix. `POST /api-keys` is the
 * name fixed for outside scripts (API.md) and does what `POST /service-accounts` does.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { ServerServices } from '@loalang/broker';
import { CreateServiceAccountBody, IdParams, RotateServiceAccountBody, UpdateServiceAccountBody } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { created, ok, ServiceAccountKeySchema, ServiceAccountSchema } from '../responses/index.js';

const tags = ['service-accounts'];

/** The audit entry names the key by its prefix (never the key); the hook adds it to the body it records. */
function noteKey(request: FastifyRequest, prefix: string): void {
  request.auditExtra = { prefix };
}

export const serviceAccountRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'service-accounts:read');
  const write = requirePermission(core, 'service-accounts:write');
  const desk = core.serviceAccounts;

  app.get('/service-accounts', { schema: { tags, response: ok(Type.Array(ServiceAccountSchema)) }, preHandler: read }, async (request) => desk.list(callerOf(request)));

  const createOptions = {
    schema: { body: CreateServiceAccountBody, tags, description: 'A service account and its key, shown in this answer only', response: created(ServiceAccountKeySchema) },
    preHandler: write,
  };
  const create = async (request: FastifyRequest, body: Static<typeof CreateServiceAccountBody>) => {
    const made = await desk.create(callerOf(request), body);
    noteKey(request, made.account.prefix);
    return made;
  };
  app.post('/service-accounts', createOptions, async (request, reply) => reply.status(201).send(await create(request, request.body)));
  app.post('/api-keys', { ...createOptions, schema: { ...createOptions.schema, description: 'The same as POST /service-accounts (the name fixed for outside scripts)' } }, async (request, reply) =>
    reply.status(201).send(await create(request, request.body)),
  );

  app.get('/service-accounts/:id', { schema: { params: IdParams, tags, response: ok(ServiceAccountSchema) }, preHandler: read }, async (request) => desk.visible(callerOf(request), request.params.id));

  app.patch('/service-accounts/:id', { schema: { params: IdParams, body: UpdateServiceAccountBody, tags, response: ok(ServiceAccountSchema) }, preHandler: write }, async (request) =>
    desk.update(callerOf(request), request.params.id, request.body),
  );

  app.post(
    '/service-accounts/:id/rotate',
    { schema: { params: IdParams, body: Type.Optional(RotateServiceAccountBody), tags, description: 'A new key, shown in this answer only; the old one stops working at once', response: ok(ServiceAccountKeySchema) }, preHandler: write },
    async (request) => {
      const made = await desk.rotate(callerOf(request), request.params.id, request.body?.expiresInDays);
      noteKey(request, made.account.prefix);
      return made;
    },
  );

  app.post('/service-accounts/:id/revoke', { schema: { params: IdParams, tags, description: 'The key stops working at once; the account is kept for the record', response: ok(ServiceAccountSchema) }, preHandler: write }, async (request) => {
    const account = await desk.revoke(callerOf(request), request.params.id);
    noteKey(request, account.prefix);
    return account;
  });
};
