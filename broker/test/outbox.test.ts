/**
 * The outbox (issue 21, decision 0030) on SQLite and PostgreSQL, sent to a real HTTP receiver on
 * loopback: each channel in order, nothing lost while the receiver is down, the same delivery id
 * on every attempt, waits that double, give-up and retry by hand, a dedupe key written twice
 * queued once, dropped when the channel is gone.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ManualClock, silentLogger } from '@loalang/protocol';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { OutboxRepo } from '../src/outbox/outbox.js';
import { OutboxSender, retryDelay } from '../src/outbox/sender.js';
import { signatureHeader, verifySignature } from '../src/outbox/signature.js';

const T0 = Date.parse('2026-11-30T01:00:00Z');

type Backend = { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> };
const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-outbox-'));
      const store = await openStore({ file: join(dir, 'test.db') });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) backends.push({ name: 'postgres', open: async () => { const store = await openStore({ url: await freshPostgres('outbox'), file: '' }); return { store, close: () => store.close() }; } });

/** A receiver that answers with `status` (or is closed), recording what reached it. */
class Receiver {
  status = 200;
  readonly got: { body: string; delivery: string; key: string; signature: string }[] = [];
  private server: Server | null = null;
  port = 0;

  async up(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (this.status >= 200 && this.status < 300) {
          this.got.push({ body, delivery: String(req.headers['x-loalang-delivery']), key: String(req.headers['idempotency-key']), signature: String(req.headers['x-loalang-signature'] ?? '') });
        }
        res.writeHead(this.status).end(this.status >= 300 ? 'busy' : 'ok');
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/in`;
  }
}

describe('outbox signatures', () => {
  it('verify with the secret, within the tolerance, and not with another secret, another body or an old time', () => {
    const body = '{"a":1}';
    const h = signatureHeader('s3cret', body, T0);
    expect(h).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', body, h, T0 + 1000)).toBe(true);
    expect(verifySignature('other', body, h, T0)).toBe(false);
    expect(verifySignature('s3cret', '{"a":2}', h, T0)).toBe(false);
    expect(verifySignature('s3cret', body, h, T0 + 6 * 60_000)).toBe(false);
    expect(verifySignature('s3cret', body, 'garbage', T0)).toBe(false);
  });

  it('waits double from the base up to the most', () => {
    const o = { baseMs: 5000, maxMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, o))).toEqual([5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  });
});

describe.each(backends)('outbox on $name', (backend) => {
  let store: Store;
  let close: () => Promise<void>;
  let clock: ManualClock;
  let repo: OutboxRepo;
  let sender: OutboxSender;
  const receiver = new Receiver();

  beforeAll(async () => {
    ({ store, close } = await backend.open());
    await receiver.up();
  });
  afterAll(async () => {
    await receiver.down();
    await close();
  });

  async function fresh(giveUpAfterMs: number | null = null) {
    await store.db.deleteFrom('outbox').execute();
    clock = new ManualClock(T0);
    repo = new OutboxRepo(store.db, () => clock.now());
    sender = new OutboxSender({ repo, clock, logger: silentLogger }, { baseMs: 1000, maxMs: 8000, pollMs: 500 });
    sender.route('test', async (_channel, m, at) => ({ url: receiver.url, headers: { 'x-loalang-signature': signatureHeader('k', m.body, at) }, giveUpAfterMs }));
    receiver.got.length = 0;
    receiver.status = 200;
  }
  afterEach(async () => {
    await sender?.stop();
  });

  /** Lets the sender finish what it started, moving fake time `ms` first. */
  async function pass(ms = 0): Promise<void> {
    clock.advance(ms);
    sender.kick();
    await sender.idle();
  }

  it('delivers each channel in order, with the message id as delivery id, signed at send time', async () => {
    await fresh();
    for (let i = 1; i <= 5; i++) await repo.enqueue({ channel: 'test:a', kind: 'n', body: JSON.stringify({ i }) });
    await repo.enqueue({ channel: 'test:b', kind: 'n', body: '{"b":1}' });
    sender.start();
    await sender.idle();
    const a = receiver.got.filter((g) => g.body.includes('"i"')).map((g) => JSON.parse(g.body).i);
    expect(a).toEqual([1, 2, 3, 4, 5]);
    expect(receiver.got).toHaveLength(6);
    const listed = await repo.list({ channelPrefix: 'test:' });
    expect(listed.every((m) => m.state === 'delivered' && m.attempts === 1 && m.lastStatus === 200)).toBe(true);
    for (const g of receiver.got) {
      expect(g.key).toBe(g.delivery);
      expect(listed.map((m) => m.id)).toContain(g.delivery);
      expect(verifySignature('k', g.body, g.signature, T0)).toBe(true);
    }
  });

  it('keeps everything while the receiver is down, retrying with doubling waits, then delivers it once and in order', async () => {
    await fresh();
    await receiver.down();
    for (let i = 1; i <= 3; i++) await repo.enqueue({ channel: 'test:a', kind: 'n', body: JSON.stringify({ i }) });
    sender.start();
    await sender.idle();
    let head = (await repo.list({ channel: 'test:a' })).at(-1)!;
    expect(head).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null });
    expect(head.lastError).toMatch(/ECONNREFUSED|UND_ERR_SOCKET/) // refused, or a kept-alive connection the receiver closed;
    expect(Date.parse(head.nextAttemptAt!)).toBe(T0 + 1000);
    // The others wait behind the head: never tried.
    expect((await repo.list({ channel: 'test:a' })).slice(0, 2).every((m) => m.attempts === 0)).toBe(true);
    await pass(1000);
    await pass(2000);
    head = (await repo.get(head.id))!;
    expect(head.attempts).toBe(3);
    expect(Date.parse(head.nextAttemptAt!) - clock.now()).toBe(4000);
    await receiver.up();
    receiver.status = 503;
    await pass(4000);
    head = (await repo.get(head.id))!;
    expect(head).toMatchObject({ attempts: 4, lastStatus: 503, lastError: 'HTTP 503: busy' });
    receiver.status = 200;
    await pass(3000); // not yet due (8 s): nothing sent
    expect(receiver.got).toHaveLength(0);
    await pass(5000);
    expect(receiver.got.map((g) => JSON.parse(g.body).i)).toEqual([1, 2, 3]);
    expect(new Set(receiver.got.map((g) => g.delivery)).size).toBe(3);
    expect((await repo.get(head.id))!).toMatchObject({ state: 'delivered', attempts: 5 });
  });

  it('gives a message up after the channel\'s limit, and a person can send it again', async () => {
    await fresh(10_000);
    receiver.status = 500;
    const { message } = await repo.enqueue({ channel: 'test:a', kind: 'n', body: '{}' });
    clock.advance(6000);
    const next = (await repo.enqueue({ channel: 'test:a', kind: 'n', body: '{"next":1}' })).message;
    sender.start();
    await sender.idle();
    for (const ms of [1000, 2000]) await pass(ms);
    expect(await repo.get(next.id)).toMatchObject({ state: 'pending', attempts: 0 });
    await pass(4000); // 13 s after it was written: the head is given up
    expect(await repo.get(message.id)).toMatchObject({ state: 'failed', lastStatus: 500, attempts: 4, nextAttemptAt: null });
    // The next one is not held behind a message given up: tried in the same pass.
    expect(await repo.get(next.id)).toMatchObject({ state: 'pending', attempts: 1 });
    // Sent again by a person while the receiver still fails: its day (here 10 s) counts from the retry.
    await repo.retry(message.id);
    await pass(1000);
    expect(await repo.get(message.id)).toMatchObject({ state: 'pending', attempts: 5, retriedAt: new Date(clock.now() - 1000).toISOString() });
    receiver.status = 200;
    await pass(8000);
    expect(await repo.get(message.id)).toMatchObject({ state: 'delivered', attempts: 6 });
    expect(await repo.get(next.id)).toMatchObject({ state: 'delivered', attempts: 2 });
    // A failed message sent again is its channel's oldest: it goes first.
    expect(receiver.got.map((g) => g.body)).toEqual(['{}', '{"next":1}']);
    await expect(repo.retry(message.id)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });
  });

  it('drains a backlog longer than a read and a pass, in order; a message whose mark failed is sent again under the same key', async () => {
    await fresh();
    for (let i = 1; i <= 130; i++) await repo.enqueue({ channel: 'test:a', kind: 'n', body: JSON.stringify({ i }) });
    const seventh = await store.db.selectFrom('outbox').select('id').where('body', '=', '{"i":7}').executeTakeFirstOrThrow();
    // The database refuses the seventh's mark once, while the eighth is already being sent.
    const mark = repo.markDelivered.bind(repo);
    let refused = 0;
    repo.markDelivered = async (id, status, at) => {
      if (id === seventh.id && refused++ === 0) throw new Error('database away');
      return mark(id, status, at);
    };
    sender.start();
    for (let i = 0; i < 10 && (await repo.counts('test:'))['test:a']?.delivered !== 130; i++) await pass(500);
    expect(await repo.counts('test:')).toEqual({ 'test:a': { delivered: 130 } });
    const got = receiver.got.map((g) => JSON.parse(g.body).i as number);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 7, ...Array.from({ length: 122 }, (_, k) => k + 9)]);
    expect(receiver.got.filter((g) => g.delivery === seventh.id).map((g) => g.key)).toEqual([seventh.id, seventh.id]);
    expect(refused).toBe(2);
  });

  it('queues a dedupe key once per channel, drops messages of a channel that is gone, counts by state', async () => {
    await fresh();
    const first = await repo.enqueue({ channel: 'test:a', kind: 'n', body: '{"x":1}', dedupeKey: 'k1' });
    const again = await repo.enqueue({ channel: 'test:a', kind: 'n', body: '{"x":2}', dedupeKey: 'k1' });
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, message: { id: first.message.id, body: '{"x":1}' } });
    expect((await repo.enqueue({ channel: 'test:b', kind: 'n', body: '{}', dedupeKey: 'k1' })).created).toBe(true);
    const lost = await repo.enqueue({ channel: 'nowhere', kind: 'n', body: '{}' });
    sender.start();
    await sender.idle();
    expect(await repo.get(lost.message.id)).toMatchObject({ state: 'dropped', lastError: 'channel nowhere no longer exists' });
    expect(receiver.got).toHaveLength(2);
    expect(await repo.counts('test:')).toEqual({ 'test:a': { delivered: 1 }, 'test:b': { delivered: 1 } });
    clock.advance(40 * 24 * 3600_000);
    expect(await repo.prune(clock.now() - 30 * 24 * 3600_000)).toBe(3);
  });
});
