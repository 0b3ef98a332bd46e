/**
 * Live announcements (issue 18): prepare one (rights and areas checked, a one-time ticket
 * returned), feed it over a WebSocket with that ticket (Opus frames in, its state and its
 * speakers' states out), list, view with each speaker's outcome, end. The rules are the broker's
 * LiveDesk; this file parses, calls and replies.
 *
 * The feed socket takes binary messages of one frame each: a 4-byte big-endian frame index (the
 * source's count of 20 ms frames from 0) and one Opus packet (48 kHz mono). A text message
 * `{"type":"end"}` ends the session; closing the socket ends it too. The server sends JSON
 * (`LiveFeedEvent`).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isLoaError } from '@loalang/protocol';
import { LivePcmEncoder, PCM_FEED_FRAME_BYTES, type LiveSessionView, type LiveSpeaker, type ServerServices } from '@loalang/broker';
import { IdParams } from '../schemas.js';
import { callerOf, requirePermission } from '../auth.js';
import { auditEntryBase } from '../audit-hook.js';
import { errorBody } from '../errors.js';
import { created, LiveDetailSchema, LivePreparedSchema, LiveSessionSchema, ok, type LiveFeedEvent } from '../responses/index.js';

const AreaRef = IdParams.properties.id;

export const CreateLiveBody = Type.Object(
  {
    areaIds: Type.Array(AreaRef, { minItems: 1, maxItems: 1000, description: 'the areas whose speakers play it (with every area below them)' }),
    priority: Type.Optional(Type.Union([Type.Literal('priority'), Type.Literal('emergency')], { description: 'priority (default; needs the right to schedule) cuts normal plays; emergency needs the right to alert. Neither cuts an alert.' })),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);

const FeedQuery = Type.Object(
  {
    ticket: Type.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
    format: Type.Optional(Type.Union([Type.Literal('opus'), Type.Literal('pcm16k')], { description: 'opus (default): each message holds an Opus packet; pcm16k: 20 ms of 16 kHz mono s16le (640 bytes), encoded by the server (a browser without WebCodecs)' })),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) }, { additionalProperties: false });
const EndAnswer = Type.Object({ endedHere: Type.Boolean({ description: 'false: it runs on another node, which was asked to end it' }) });

/** The longest feed message: the index and Opus' largest packet (or a PCM frame). */
const MAX_FEED_MESSAGE = 4 + Math.max(1275, PCM_FEED_FRAME_BYTES);
const STATE_EVERY_MS = 1000;
/** Messages kept while the ticket is checked: 10 s of frames. */
const EARLY_MESSAGES = 500;


export const liveRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const desk = core.liveDesk;
  // Who may speak (schedule or alert rights, by priority) is the desk's rule; any signed-in role passes here.
  const signedIn = requirePermission(core, 'areas:read');

  app.post('/live', { schema: { body: CreateLiveBody, tags: ['live'], description: 'Prepare a live announcement: returns its feed path and a one-time ticket (valid one minute)', response: created(LivePreparedSchema) }, preHandler: signedIn }, async (request, reply) => {
    const prepared = await desk.prepare(callerOf(request), request.body);
    return reply.status(201).send({ ...prepared, feedPath: `/api/v1/live/${prepared.session.id}/feed` });
  });

  app.get('/live', { schema: { querystring: ListQuery, tags: ['live'], description: 'Live announcements in the caller\'s areas, newest first', response: ok(Type.Array(LiveSessionSchema)) }, preHandler: signedIn }, async (request) =>
    await desk.list(callerOf(request), request.query.limit ?? 50),
  );

  app.get('/live/:id', { schema: { params: IdParams, tags: ['live'], description: 'A live announcement: its record, its speakers\' states, and each speaker\'s reported outcome', response: ok(LiveDetailSchema) }, preHandler: signedIn }, async (request) =>
    await desk.detail(callerOf(request), request.params.id),
  );

  app.post('/live/:id/end', { schema: { params: IdParams, tags: ['live'], description: 'End a live announcement everywhere', response: ok(EndAnswer) }, preHandler: signedIn }, async (request) => ({
    endedHere: await desk.end(callerOf(request), request.params.id),
  }));

  app.get('/live/:id/feed', { websocket: true, schema: { params: IdParams, querystring: FeedQuery, tags: ['live'], description: 'WebSocket: feed a prepared live announcement (binary: u32 frame index + Opus packet; text {"type":"end"})' } }, async (socket, request) => {
    const sessionId = request.params.id;
    // Listened to at once (ws drops what no listener takes): frames sent while the ticket is
    // checked wait here, and a source gone meanwhile is noticed.
    const early: [Buffer, boolean][] = [];
    let onMessage: ((data: Buffer, isBinary: boolean) => void) | null = null;
    let gone = false;
    socket.on('message', (data: Buffer, isBinary: boolean) => (onMessage ? onMessage(data, isBinary) : early.length < EARLY_MESSAGES && early.push([data, isBinary])));
    socket.once('close', () => (gone = true));
    const send = (e: LiveFeedEvent) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(e));
    };
    // The API's error shape (errors.ts), as a message on the socket.
    const fail = (err: unknown) => {
      if (!isLoaError(err)) request.log.error({ err, sessionId }, 'live feed failed');
      send({ type: 'error', ...(isLoaError(err) ? errorBody(err.code, err.message, err.messageVi) : errorBody('LOA_ERR_INTERNAL', 'Internal server error', 'Lỗi máy chủ')) });
    };
    let view: LiveSessionView;
    try {
      view = await desk.open(sessionId, request.query.ticket);
    } catch (err) {
      fail(err);
      socket.close(1008, 'refused');
      return;
    }
    await core.audit
      .append({ ...auditEntryBase(request, core), userId: view.createdBy, action: 'WS /api/v1/live/:id/feed', target: sessionId, status: 101, detail: { areaIds: view.areaIds, priority: view.priority } })
      .catch((err: unknown) => request.log.error({ err }, 'audit entry not written'));
    send({ type: 'open', session: view });
    const pcm = request.query.format === 'pcm16k' ? new LivePcmEncoder() : null;
    const onSpeaker = (id: string, speaker: LiveSpeaker) => id === sessionId && send({ type: 'speaker', speaker });
    const onSession = (v: LiveSessionView) => {
      if (v.id !== sessionId || !v.endedAt) return;
      send({ type: 'ended', session: v });
      socket.close(1000, 'ended');
    };
    desk.on('speaker', onSpeaker);
    core.liveAnnouncements.on('session', onSession);
    const ticker = setInterval(() => {
      const v = core.liveAnnouncements.get(sessionId);
      if (v) send({ type: 'state', session: v });
    }, STATE_EVERY_MS);
    onMessage = (data, isBinary) => {
      try {
        if (isBinary) {
          if (data.length < 5 || data.length > MAX_FEED_MESSAGE) throw Object.assign(new Error('bad frame'), { frame: data.length });
          desk.feed(sessionId, data.readUInt32BE(0), pcm ? pcm.encode(data.subarray(4)) : data.subarray(4));
          return;
        }
        const message = JSON.parse(data.toString('utf8')) as { type?: unknown };
        if (message.type === 'end') desk.endHere(sessionId);
      } catch (err) {
        if (isLoaError(err)) return fail(err);
        send({ type: 'error', ...errorBody('LOA_ERR_INVALID', 'a feed message is binary (u32 frame index + one Opus packet, at most 1,279 bytes) or {"type":"end"}', 'bản tin gửi lên phải là nhị phân (số thứ tự khung u32 + một gói Opus, tối đa 1.279 byte) hoặc {"type":"end"}') });
      }
    };
    for (const [data, isBinary] of early.splice(0)) onMessage(data, isBinary);
    const closed = () => {
      clearInterval(ticker);
      pcm?.close();
      desk.off('speaker', onSpeaker);
      core.liveAnnouncements.off('session', onSession);
      // The source is gone: nobody can feed the session any more.
      if (core.liveAnnouncements.get(sessionId)) core.liveAnnouncements.end(sessionId, 'source-gone');
    };
    if (gone) closed();
    else socket.once('close', closed);
  });
};
