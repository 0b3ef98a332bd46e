/**
 * Server-Sent Events for the console: a stream per request that pings now and then, and a
 * registry that ends every open stream when the server closes (open streams would keep it up).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ServerServices } from '@loalang/broker';
import { callerOf, stillSameCaller } from './auth.js';

/** Sends an event; `json` is data already serialised (shared by many streams). */
export type Send = (event: string, data: unknown, json?: string) => void;

/** A comment line this often keeps proxies and 4G NATs from closing an idle stream. */
const PING_MS = 15_000;
/** How often an open stream checks that its session still stands (logout, password reset, disabled user, new role or area). */
export const SESSION_CHECK_MS = 5_000;

export function eventStreams(app: FastifyInstance, core: ServerServices) {
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of open) s.end();
  });
  /**
   * Keeps the response open as an event stream; `setup` returns its cleanup, run when the
   * client goes away. The stream is ended as soon as the request's session no longer stands for
   * the same user, role and area: the client then reconnects and is answered 401 or with its
   * new scope.
   */
  return (request: FastifyRequest, raw: ServerResponse, setup: (send: Send) => () => void): void => {
    const caller = callerOf(request);
    open.add(raw);
    raw.once('close', () => open.delete(raw));
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send: Send = (event, data, json) => void raw.write(`event: ${event}\ndata: ${json ?? JSON.stringify(data)}\n\n`);
    const cleanup = setup(send);
    const ping = setInterval(() => raw.write(': ping\n\n'), PING_MS);
    // A session that cannot be checked (the database not answering) is not trusted to go on either.
    const check = setInterval(
      () =>
        void stillSameCaller(core, request, caller).then(
          (same) => same || raw.end(),
          (err: unknown) => {
            request.log.error({ err }, 'session check failed; event stream ended');
            raw.end();
          },
        ),
      SESSION_CHECK_MS,
    );
    request.raw.once('close', () => {
      clearInterval(ping);
      clearInterval(check);
      cleanup();
    });
  };
}
