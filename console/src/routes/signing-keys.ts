/**
 * The server's downlink signing keys (decision 0016), for admins of the whole tree: list,
 * add a next key (devices learn it from their signed desired state), activate it, retire a
 * next key never used. Private keys never leave the server.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { brokerError, type ServerServices } from '@loalang/broker';
import { callerOf, requirePermission } from '../auth.js';
import { created, ok, SigningKeySchema, SigningKeysSchema } from '../responses/index.js';

const tags = ['signing-keys'];
const KidParams = Type.Object({ kid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }) }, { additionalProperties: false });

export const signingKeyRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const permitted = requirePermission(core, 'signing-keys:write');
  /** Keys sign for every device, so only an admin of the root area may touch them. */
  const rootAdmin = async (...args: Parameters<typeof permitted>) => {
    await permitted(...args);
    if ((await core.areas.require(callerOf(args[0]).user.areaId)).parentId !== null) {
      throw brokerError('LOA_ERR_OUT_OF_SCOPE', { en: 'signing keys belong to the whole network: ask an admin of the top area', vi: 'khoá ký dùng cho toàn mạng: hãy nhờ quản trị viên cấp cao nhất' });
    }
  };

  app.get('/signing-keys', { schema: { tags, description: 'Every signing key with its state; the public halves are what agents pin', response: ok(SigningKeysSchema) }, preHandler: rootAdmin }, async () => ({
    keys: await core.signingKeys.list(),
    trusted: core.signer.trusted(),
  }));

  app.post('/signing-keys', { schema: { tags, description: 'Adds the next key; online devices get it at once in their signed desired state', response: created(SigningKeySchema) }, preHandler: rootAdmin }, async (_request, reply) => reply.status(201).send(await core.signingKeys.addNext()));

  app.post('/signing-keys/:kid/activate', { schema: { tags, params: KidParams, description: 'The next key starts signing; the old active key is retired', response: ok(SigningKeySchema) }, preHandler: rootAdmin }, async (request) => core.signingKeys.activate(request.params.kid));

  app.post('/signing-keys/:kid/retire', { schema: { tags, params: KidParams, description: 'Drops a next key that will not be used', response: ok(SigningKeySchema) }, preHandler: rootAdmin }, async (request) => core.signingKeys.retire(request.params.kid));
};
