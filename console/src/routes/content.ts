import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { brokerError, LIBRARY_KINDS, type ServerServices } from '@loalang/broker';
import { Type } from '@sinclair/typebox';
import { LoaError } from '@loalang/protocol';
import { ContentListQuery, IdParams, TtsBody } from '../schemas.js';
import { callerOf, canReadFromArea, deviceIdentityOf, requirePermission, resolveCaller } from '../auth.js';
import { sendFile } from '../file-range.js';
import { ContentItemSchema, created, noContent, notJson, ok, SpokenContentSchema, StreamSourceSchema, StreamSourcesSchema } from '../responses/index.js';

export interface ContentRouteOptions {
  core: ServerServices;
  maxUploadBytes: number;
}

function fieldValue(fields: Record<string, unknown>, name: string): string | undefined {
  const f = fields[name] as { type?: string; value?: unknown } | undefined;
  return f && f.type === 'field' && typeof f.value === 'string' ? f.value : undefined;
}

/** Devices fetch content with HTTP Basic (device id + MQTT secret), only what their desired state names. */
async function deviceMayFetch(core: ServerServices, request: FastifyRequest, contentId: string): Promise<boolean> {
  const identity = await deviceIdentityOf(core, request);
  return identity !== null && (await core.catalogue.deviceMayFetch(identity.deviceId, contentId));
}

const StreamSourceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    url: Type.String({ minLength: 8, maxLength: 2000, description: 'http(s) URL of the live stream; its host must be on the allowed stream hosts' }),
    areaId: Type.Optional(IdParams.properties.id),
  },
  { additionalProperties: false },
);

export const contentRoutes: FastifyPluginAsyncTypebox<ContentRouteOptions> = async (app, { core, maxUploadBytes }) => {
  const read = requirePermission(core, 'content:read');
  const write = requirePermission(core, 'content:write');

  app.get('/content', { schema: { querystring: ContentListQuery, tags: ['content'], description: 'The audio library, newest first: uploads and bulletins unless `kind` asks for alert speech too', response: ok(Type.Array(ContentItemSchema)) }, preHandler: read }, async (request) => {
    return core.catalogue.list(callerOf(request), request.query.kind ?? LIBRARY_KINDS);
  });

  app.post('/content', { schema: { tags: ['content'], consumes: ['multipart/form-data'], response: created(ContentItemSchema) }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const file = await request.file({ limits: { fileSize: maxUploadBytes, files: 1, fields: 10 } });
    if (!file) throw brokerError('LOA_ERR_INVALID', { en: 'multipart field "file" is missing', vi: 'thiếu trường "file" trong biểu mẫu' });
    const areaId = core.catalogue.targetArea(caller, fieldValue(file.fields, 'areaId'));
    const dir = await mkdtemp(join(tmpdir(), 'loalang-upload-'));
    try {
      const tmp = join(dir, 'upload');
      await pipeline(file.file, createWriteStream(tmp));
      // Busboy stops at the limit and marks the stream truncated: refuse rather than store a cut file.
      if (file.file.truncated) {
        throw new LoaError('LOA_ERR_TOO_LARGE', `The file is larger than ${Math.round(maxUploadBytes / 1048576)} MiB`, `Tệp lớn hơn ${Math.round(maxUploadBytes / 1048576)} MiB`, { httpStatus: 413 });
      }
      const title = fieldValue(file.fields, 'title') ?? file.filename ?? 'audio';
      const item = await core.library.importAudio(tmp, { title: title.slice(0, 200), areaId, originalName: file.filename ?? null, createdBy: caller.user.id });
      return reply.status(201).send(item);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  app.post('/content/tts', { schema: { body: TtsBody, tags: ['content'], response: created(SpokenContentSchema) }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const areaId = core.catalogue.targetArea(caller, request.body.areaId);
    const title = request.body.title ?? request.body.text.slice(0, 80);
    const item = await core.library.speak(request.body.text, { title, areaId, createdBy: caller.user.id, voice: request.body.voice ?? 'vi', kind: request.body.kind ?? 'tts' });
    return reply.status(201).send({ ...item, text: request.body.text });
  });

  app.get('/content/:id', { schema: { params: IdParams, tags: ['content'], response: ok(ContentItemSchema) }, preHandler: read }, async (request) => {
    return core.catalogue.visible(callerOf(request), request.params.id);
  });

  app.delete('/content/:id', { schema: { params: IdParams, tags: ['content'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await core.catalogue.remove(callerOf(request), request.params.id);
    return reply.status(204).send();
  });

  app.get(
    '/content/:id/file',
    {
      schema: {
        params: IdParams,
        tags: ['content'],
        description: 'The stored audio (Opus in Ogg), with Range support; for the console (bearer token) and for devices (Basic: only what their programme or an alert names)',
        response: notJson('audio/ogg', 'the audio, whole (200) or the range asked for (206)', [200, 206]),
      },
    },
    async (request, reply) => {
      const item = await core.content.get(request.params.id);
      const caller = await resolveCaller(core, request);
      const allowed = caller ? item !== null && (await canReadFromArea(core.areas, caller, item.areaId)) : await deviceMayFetch(core, request, request.params.id);
      if (!caller && !allowed) throw brokerError('LOA_ERR_UNAUTHENTICATED');
      if (!item) throw brokerError('LOA_ERR_NOT_FOUND', { en: `content ${request.params.id}`, vi: `nội dung ${request.params.id}` });
      if (!allowed) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
      return sendFile(reply, core.media.contentPath(item.id), item.mimeType, request.headers.range, item.sha256);
    },
  );

  app.get('/streams', { schema: { tags: ['content'], description: 'Named live sources schedules can relay, with the hosts the server allows (null: any)', response: ok(StreamSourcesSchema) }, preHandler: read }, async (request) => {
    return await core.catalogue.streams(callerOf(request));
  });

  app.post('/streams', { schema: { body: StreamSourceBody, tags: ['content'], response: created(StreamSourceSchema) }, preHandler: write }, async (request, reply) => {
    return reply.status(201).send(await core.catalogue.addStream(callerOf(request), request.body));
  });

  app.delete('/streams/:id', { schema: { params: IdParams, tags: ['content'], response: noContent() }, preHandler: write }, async (request, reply) => {
    await core.catalogue.removeStream(callerOf(request), request.params.id);
    return reply.status(204).send();
  });
};
