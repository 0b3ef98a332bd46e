/**
 * A test double of a province's source-information system (HTTTN), as issue 21 asks: a small
 * HTTP server that takes what LoaLang reports (the registry, programmes, results, alert
 * deliveries, bulletin outcomes) at the default mapping's paths, checks the token and the HMAC
 * signature, keeps each delivery once by its Idempotency-Key (as a real receiver must), and can
 * go down (its port closed) and come back, or take a request and then answer 500 (the answer
 * lost), so the sender retries something it already has.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '@loalang/broker';

export interface Received {
  path: string;
  key: string;
  body: Record<string, unknown>;
  at: number;
}

export class HtttnDouble {
  /** Each delivery kept once, in the order it first arrived. */
  readonly received: Received[] = [];
  /** Requests whose Idempotency-Key was already kept: answered 200 and not kept again. */
  duplicates = 0;
  /** Requests refused for a wrong token or signature. */
  refused = 0;
  /** The next this many requests are kept, then answered 500 (the answer is "lost"). */
  loseAnswers = 0;
  private server: Server | null = null;
  port = 0;

  constructor(
    readonly token: string,
    readonly secret: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/htttn/v1`;
  }

  /** What arrived at one path (e.g. "/cum-loa"), in order. */
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async up(): Promise<void> {
    this.server = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const answer = this.take(req, raw);
        res.writeHead(answer, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: answer === 200 }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Closes the port (connections refused) until `up()` again on the same port. */
  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private take(req: IncomingMessage, raw: string): number {
    const signature = String(req.headers['x-loalang-signature'] ?? '');
    if (req.headers.authorization !== `Bearer ${this.token}` || !verifySignature(this.secret, raw, signature, Date.now())) {
      this.refused++;
      return 401;
    }
    const key = String(req.headers['idempotency-key'] ?? '');
    const path = (req.url ?? '').replace(/^\/htttn\/v1/, '');
    if (this.received.some((r) => r.key === key)) {
      this.duplicates++;
      return 200;
    }
    this.received.push({ path, key, body: JSON.parse(raw) as Record<string, unknown>, at: Date.now() });
    if (this.loseAnswers > 0) {
      this.loseAnswers--;
      return 500;
    }
    return 200;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
