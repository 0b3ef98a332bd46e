/** Real peers for agent tests: a plain Aedes broker and an HTTP content server with Range and Basic auth. */
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import type { AmplifierController, AmpEvent, AmpStatus, LinkCounters } from '@loalang/firmware-bridge';
import { EventEmitter } from 'node:events';
import { EnvelopeSigner, newSigningKey, type ServerKey, type SignedEnvelope } from '@loalang/protocol';

export async function startBroker(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server: Server = createNetServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function observer(port: number): Promise<MqttClient & { seen: { topic: string; payload: unknown }[] }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `obs-${Math.random()}`, reconnectPeriod: 0 }) as MqttClient & { seen: { topic: string; payload: unknown }[] };
  client.seen = [];
  await new Promise<void>((r) => client.once('connect', () => r()));
  await client.subscribeAsync('loalang/v1/#', { qos: 1 });
  client.on('message', (topic, payload) => {
    let p: unknown = payload.toString();
    try {
      p = JSON.parse(payload.toString());
    } catch {
      /* raw */
    }
    client.seen.push({ topic, payload: p });
  });
  return client;
}

export interface ContentServer {
  url: (id: string) => string;
  requests: { range: string | undefined; auth: string | undefined }[];
  /** Cut the connection after this many bytes on the next full request. */
  cutNextAfter: number | null;
  close: () => Promise<void>;
}

export async function startContentServer(files: Record<string, string>, auth: { user: string; password: string }): Promise<ContentServer> {
  const state: ContentServer = { url: () => '', requests: [], cutNextAfter: null, close: async () => undefined };
  const expected = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  const server: HttpServer = createHttpServer((req, res) => {
    state.requests.push({ range: req.headers.range, auth: req.headers.authorization });
    if (req.headers.authorization !== expected) return void res.writeHead(401).end();
    const id = (req.url ?? '').split('/').at(-2) ?? '';
    const file = files[id];
    if (!file) return void res.writeHead(404).end();
    const data = readFileSync(file);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      if (start >= data.length) return void res.writeHead(416).end();
      res.writeHead(206, { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'content-length': data.length - start });
      return void res.end(data.subarray(start));
    }
    if (state.cutNextAfter !== null) {
      const n = state.cutNextAfter;
      state.cutNextAfter = null;
      res.writeHead(200, { 'content-length': data.length });
      // The bytes reach the client, then the link drops (as on 4G).
      res.write(data.subarray(0, n), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    res.writeHead(200, { 'content-length': data.length }).end(data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  state.url = (id) => `http://127.0.0.1:${port}/api/v1/content/${id}/file`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

/** Records what the agent asks of the amplifier; can be told to fail. */
export class FakeAmplifier extends EventEmitter implements AmplifierController {
  calls: string[] = [];
  fail = false;
  power = false;
  async start() {}
  async stop() {}
  async powerOn() {
    this.calls.push('on');
    if (this.fail) throw new Error('board silent');
    this.power = true;
  }
  async powerOff() {
    this.calls.push('off');
    this.power = false;
  }
  async setVolume() {}
  async status(): Promise<AmpStatus> {
    if (this.fail) throw new Error('board silent');
    return { power: this.power, faults: [], temperatureC: 31 };
  }
  counters(): LinkCounters {
    return { framesSent: 0, framesReceived: 0, crcErrors: 0, timeouts: 0, retries: 0, reconnects: 0 };
  }
  override on(event: 'event', listener: (e: AmpEvent) => void): this {
    return super.on(event, listener);
  }
}

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

/** Plays the server's part in signing downlinks: a fresh key and a growing sequence. */
export interface TestSigner {
  serverKeys: ServerKey[];
  /** The envelope for `kind` to `dev/<deviceId>`, with issue/expiry/sequence overridable. */
  seal: (deviceId: string, kind: string, body: unknown, over?: Partial<Pick<SignedEnvelope, 'iat' | 'exp' | 'seq' | 'to'>>) => Buffer;
}

export function testSigner(): TestSigner {
  const key = newSigningKey();
  const signer = new EnvelopeSigner(key.privateKeyPem);
  let seq = Date.now() * 1000;
  return {
    serverKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    seal: (deviceId, kind, body, over = {}) => {
      const iat = over.iat ?? Date.now();
      return signer.seal({ kind, to: over.to ?? `dev/${deviceId}`, iat, exp: over.exp ?? iat + 60_000, seq: over.seq ?? ++seq, body });
    },
  };
}
