/**
 * Fleet updates (issue 20): upload a signed agent release, roll it out in waves, watch, pause,
 * resume, cancel; a device's place in its latest rollout. Technicians and admins, within their
 * area. Devices fetch the bundle of a rollout that offered it to them (Basic, their own
 * credentials), with Range for resuming.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { brokerError, can, TargetsSchema, type ServerServices } from '@loalang/broker';
import { LoaError } from '@loalang/protocol';
import { callerOf, deviceIdentityOf, requirePermission, resolveCaller } from '../auth.js';
import { sendFile } from '../file-range.js';
import { IdParams } from '../schemas.js';
import { created, DeviceUpdateSchema, notJson, ok, ReleaseSchema, ReleasesSchema, RolloutSchema, RolloutsSchema, RolloutViewSchema } from '../responses/index.js';

const tags = ['updates'];
/** A bundle of the agent is a few MiB; this leaves room without letting an upload fill the disk. */
const MAX_RELEASE_BYTES = 200 * 1024 * 1024;

const RolloutBody = Type.Object(
  {
    releaseId: IdParams.properties.id,
    targets: TargetsSchema,
    waves: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 10, description: 'cumulative percentages ending at 100 (default [1, 10, 100])' })),
    failureThreshold: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1, description: 'the fraction of a wave that may fail before the rollout halts (default 0.1)' })),
    confirmWithinMs: Type.Optional(Type.Integer({ minimum: 10_000, maximum: 3_600_000, description: 'how long a box has to prove the new version healthy (default 300000)' })),
  },
  { additionalProperties: false },
);

export const updateRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const read = requirePermission(core, 'updates:read');
  const write = requirePermission(core, 'updates:write');

  app.get('/releases', { schema: { tags, description: 'Agent releases uploaded, newest first, and the release keys uploads must be signed by', response: ok(ReleasesSchema) }, preHandler: read }, async () => ({
    releases: await core.rollouts.repo.releases(),
    keys: core.releases.keys.map(({ kid, publicKey }) => ({ kid, publicKey })),
  }));

  app.post('/releases', { schema: { tags, consumes: ['multipart/form-data'], description: 'Uploads a bundle from `loalang release pack` (multipart field "file"); refused unless signed by a release key the server knows', response: created(ReleaseSchema) }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const file = await request.file({ limits: { fileSize: MAX_RELEASE_BYTES, files: 1, fields: 2 } });
    if (!file) throw brokerError('LOA_ERR_INVALID', { en: 'multipart field "file" is missing', vi: 'thiếu trường "file" trong biểu mẫu' });
    const tmp = core.releases.uploadPath();
    try {
      await pipeline(file.file, createWriteStream(tmp));
      if (file.file.truncated) throw new LoaError('LOA_ERR_TOO_LARGE', `The bundle is larger than ${MAX_RELEASE_BYTES / 1048576} MiB`, `Gói lớn hơn ${MAX_RELEASE_BYTES / 1048576} MiB`, { httpStatus: 413 });
      return reply.status(201).send(await core.releases.add(tmp, caller.user.id));
    } finally {
      await rm(tmp, { force: true });
    }
  });

  app.get(
    '/releases/:id/file',
    { schema: { params: IdParams, tags, description: 'The bundle, with Range support: for technicians, and for devices a rollout offered it to (Basic)', response: notJson('application/gzip', 'the bundle, whole (200) or the range asked for (206)', [200, 206]) } },
    async (request, reply) => {
      const release = await core.rollouts.repo.release(request.params.id);
      const caller = await resolveCaller(core, request);
      let allowed = false;
      if (caller) allowed = can(caller.user.role, 'updates:read');
      else {
        const device = await deviceIdentityOf(core, request);
        if (!device) throw brokerError('LOA_ERR_UNAUTHENTICATED');
        allowed = release !== null && (await core.rollouts.mayFetch(device.deviceId, release.id));
      }
      if (!release) throw brokerError('LOA_ERR_NOT_FOUND', { en: `release ${request.params.id}`, vi: `bản phát hành ${request.params.id}` });
      if (!allowed) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
      return sendFile(reply, core.releases.pathOf(release), 'application/gzip', request.headers.range, release.sha256);
    },
  );

  app.get('/rollouts', { schema: { tags, description: 'Rollouts that target the caller\'s areas or devices, newest first', response: ok(RolloutsSchema) }, preHandler: read }, async (request) => ({ rollouts: await core.updateDesk.list(callerOf(request)) }));

  app.post('/rollouts', { schema: { tags, body: RolloutBody, description: 'Rolls a release out to areas or devices in waves; the next wave starts when the one before is healthy; halts by itself past the failure threshold', response: created(RolloutSchema) }, preHandler: write }, async (request, reply) =>
    reply.status(201).send(await core.updateDesk.create(callerOf(request), request.body)),
  );

  app.get('/rollouts/:id', { schema: { tags, params: IdParams, description: 'A rollout with its release and each device\'s state', response: ok(RolloutViewSchema) }, preHandler: read }, async (request) => core.updateDesk.view(callerOf(request), request.params.id));

  app.get('/devices/:id/update', { schema: { tags, params: IdParams, description: 'The version the device runs and its place in the latest rollout that included it', response: ok(DeviceUpdateSchema) }, preHandler: read }, async (request) => {
    const device = await core.fleet.visible(callerOf(request), request.params.id);
    return { deviceId: device.id, agentVersion: device.agentVersion, update: await core.rollouts.repo.latestFor(device.id) };
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/rollouts/:id/${action}`, { schema: { tags, params: IdParams, description: { pause: 'No new wave starts; boxes already updating go on', resume: 'Goes on from the wave it was in', cancel: 'Ends it; boxes that have not installed yet are told not to' }[action], response: ok(RolloutSchema) }, preHandler: write }, async (request) =>
      core.updateDesk[action](callerOf(request), request.params.id),
    );
  }
};
