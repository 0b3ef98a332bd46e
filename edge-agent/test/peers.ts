/** Real peers for agent tests: a plain Aedes broker and an HTTP content server with Range and Basic auth. */
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
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

/** Plays the server's part in signing downlinks: a fresh key and a growing sequence. */
export interface TestSigner {
  serverKeys: ServerKey[];
  /** The private key (PEM), for signing what is not an envelope (a live frame group). */
  privateKeyPem: string;
  /** The envelope for `kind` to `dev/<deviceId>`, with issue/expiry/sequence overridable. */
  seal: (deviceId: string, kind: string, body: unknown, over?: Partial<Pick<SignedEnvelope, 'iat' | 'exp' | 'seq' | 'to'>>) => Buffer;
}

export function testSigner(): TestSigner {
  const key = newSigningKey();
  const signer = new EnvelopeSigner(key.privateKeyPem);
  let seq = Date.now() * 1000;
  return {
    serverKeys: [{ kid: key.kid, publicKey: key.publicKey }],
    privateKeyPem: key.privateKeyPem,
    seal: (deviceId, kind, body, over = {}) => {
      const iat = over.iat ?? Date.now();
      return signer.seal({ kind, to: over.to ?? `dev/${deviceId}`, iat, exp: over.exp ?? iat + 60_000, seq: over.seq ?? ++seq, body });
    },
  };
}
