/** A live audio stream server (Icecast-like) for the stream relay tests. */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface StreamServer {
  url: string;
  /** One entry per connection: how many bytes it received before it ended. */
  connections: { at: number; bytes: number }[];
  /** The next connection is cut after this many ms (a dropped 4G link, a station restart). */
  cutNextAfterMs: number | null;
  close(): Promise<void>;
}

/**
 * A live audio stream as an Icecast server sends it: `audio/mpeg`, endless, paced at the
 * bit rate (the MP3 file is looped). Can cut a connection mid-stream.
 */
export async function startStreamServer(mp3: Buffer, bitrateKbps: number): Promise<StreamServer> {
  const bytesPerTick = Math.round((bitrateKbps * 1000) / 8 / 10); // every 100 ms
  const sockets = new Set<Socket>();
  const state: StreamServer = { url: '', connections: [], cutNextAfterMs: null, close: async () => undefined };
  const server = createHttpServer((_req, res) => {
    const conn = { at: Date.now(), bytes: 0 };
    state.connections.push(conn);
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'icy-name': 'Dai phat thanh tinh (test)', 'cache-control': 'no-cache' });
    let offset = 0;
    const send = () => {
      const end = offset + bytesPerTick;
      const chunk = end <= mp3.length ? mp3.subarray(offset, end) : Buffer.concat([mp3.subarray(offset), mp3.subarray(0, end - mp3.length)]);
      offset = end % mp3.length;
      conn.bytes += chunk.length;
      res.write(chunk);
    };
    // Icecast sends a little ahead at first so players can start at once.
    for (let i = 0; i < 5; i++) send();
    const tick = setInterval(send, 100);
    const cut = state.cutNextAfterMs;
    state.cutNextAfterMs = null;
    const cutTimer = cut === null ? null : setTimeout(() => res.destroy(), cut);
    res.on('close', () => {
      clearInterval(tick);
      if (cutTimer) clearTimeout(cutTimer);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/live.mp3`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}
