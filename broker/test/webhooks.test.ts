/**
 * Webhook subscriptions and the publisher on the store, SQLite and PostgreSQL (issue 21 item 5):
 * an event goes to the active subscriptions that chose it and whose area holds the event's area,
 * once per subscription however often it is published (a replay, two writers: the outbox's
 * dedupe key is the event's id); a subscription made or disabled here is seen at once; the
 * outbox route signs with the secret as it is at send time and drops what a deleted or
 * disabled subscription had pending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, silentLogger } from '@loalang/protocol';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { AreaRepo } from '../src/areas/areas.js';
import { OutboxRepo } from '../src/outbox/outbox.js';
import { verifySignature } from '../src/outbox/signature.js';
import { WebhookRepo } from '../src/webhooks/subscriptions.js';
import { WebhookPublisher, webhookChannel } from '../src/webhooks/publisher.js';
import { webhookRoute } from '../src/webhooks/delivery.js';
import { eventId, type WebhookEvent } from '../src/webhooks/events.js';

const T0 = Date.parse('2026-11-30T01:00:00Z');

type Backend = { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> };
const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-webhooks-'));
      const store = await openStore({ file: join(dir, 'test.db') });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) backends.push({ name: 'postgres', open: async () => { const store = await openStore({ url: await freshPostgres('webhooks'), file: '' }); return { store, close: () => store.close() }; } });

describe.each(backends)('webhooks on $name', (backend) => {
  let opened: Awaited<ReturnType<Backend['open']>>;
  let repo: WebhookRepo;
  let outbox: OutboxRepo;
  let publisher: WebhookPublisher;
  let kicks = 0;
  const clock = new ManualClock(T0);
  const now = () => clock.now();
  const event = (over: Partial<WebhookEvent> = {}): WebhookEvent => ({ event: 'device.offline', key: 'd1|1', at: new Date(T0).toISOString(), areaId: 'a1', data: { deviceId: 'd1' }, ...over });

  beforeAll(async () => {
    opened = await backend.open();
    const db = opened.store.db;
    const areas = new AreaRepo(db, now);
    await areas.create({ id: 'p', name: 'Tỉnh', parentId: null });
    await areas.create({ id: 'a', name: 'Xã A', parentId: 'p' });
    await areas.create({ id: 'a1', name: 'Thôn A1', parentId: 'a' });
    await areas.create({ id: 'b', name: 'Xã B', parentId: 'p' });
    repo = new WebhookRepo(db, now);
    outbox = new OutboxRepo(db, now);
    publisher = new WebhookPublisher({ webhooks: repo, areas, outbox, kick: () => kicks++, now, logger: silentLogger });
  });
  afterAll(async () => opened?.close());

  it('enqueues an event once per subscription that wants it, within its area subtree', async () => {
    const inA = await repo.create({ name: 'A', url: 'https://a.example/h', events: ['device.offline'], areaId: 'a', createdBy: null });
    const inP = await repo.create({ name: 'P', url: 'https://p.example/h', events: ['device.offline', 'play.reported'], areaId: 'p', createdBy: null });
    const inB = await repo.create({ name: 'B', url: 'https://b.example/h', events: ['device.offline'], areaId: 'b', createdBy: null });
    const otherEvent = await repo.create({ name: 'A reports', url: 'https://a.example/r', events: ['play.reported'], areaId: 'a', createdBy: null });
    publisher.invalidate();
    expect(await publisher.publish(event())).toBe(2);
    // Published again (a replayed event, another node): nothing new.
    expect(await publisher.publish(event())).toBe(0);
    expect(kicks).toBe(1);
    for (const [w, n] of [[inA, 1], [inP, 1], [inB, 0], [otherEvent, 0]] as const) expect(await outbox.list({ channel: webhookChannel(w.id) })).toHaveLength(n);
    const [message] = await outbox.list({ channel: webhookChannel(inA.id) });
    expect(message).toMatchObject({ kind: 'device.offline', state: 'pending', dedupeKey: eventId('device.offline', 'd1|1') });
    expect(JSON.parse(message!.body)).toEqual({ id: eventId('device.offline', 'd1|1'), event: 'device.offline', at: new Date(T0).toISOString(), areaId: 'a1', data: { deviceId: 'd1' } });
    // The same body (and id) for every subscription.
    expect((await outbox.list({ channel: webhookChannel(inP.id) }))[0]!.body).toBe(message!.body);
  });

  it('sees a subscription disabled here at once; signs with the secret at send time; drops for a deleted one', async () => {
    const w = await repo.create({ name: 'Tạm', url: 'https://t.example/h', events: ['alert.delivered'], areaId: 'a', createdBy: null });
    publisher.invalidate();
    await repo.update(w.id, { active: false });
    publisher.invalidate();
    expect(await publisher.publish(event({ event: 'alert.delivered', key: 'al1|d1' }))).toBe(0);
    await repo.update(w.id, { active: true });
    publisher.invalidate();
    expect(await publisher.publish(event({ event: 'alert.delivered', key: 'al1|d1' }))).toBe(1);
    const [message] = await outbox.list({ channel: webhookChannel(w.id) });
    const route = webhookRoute(repo, { timeoutMs: 10_000, giveUpAfterMs: 86_400_000 });
    const target = (await route(webhookChannel(w.id), message!, now()))!;
    expect(target).toMatchObject({ url: 'https://t.example/h', timeoutMs: 10_000, giveUpAfterMs: 86_400_000, headers: { 'content-type': 'application/json', 'x-loalang-event': 'alert.delivered' } });
    expect(verifySignature(w.secret, message!.body, target.headers['x-loalang-signature']!, now())).toBe(true);
    const rotated = await repo.rotateSecret(w.id);
    const after = (await route(webhookChannel(w.id), message!, now()))!;
    expect(verifySignature(rotated.secret, message!.body, after.headers['x-loalang-signature']!, now())).toBe(true);
    expect(verifySignature(w.secret, message!.body, after.headers['x-loalang-signature']!, now())).toBe(false);
    await repo.update(w.id, { active: false });
    expect(await route(webhookChannel(w.id), message!, now())).toBeNull();
    await repo.delete(w.id);
    expect(await route(webhookChannel(w.id), message!, now())).toBeNull();
  });

  it('keeps the secret as 32 random bytes, readable for signing, and the events as chosen', async () => {
    const w = await repo.create({ name: 'S', url: 'https://s.example/h', events: ['schedule.approved', 'device.offline'], areaId: 'p', createdBy: null });
    expect(w.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    const row = await opened.store.db.selectFrom('webhooks').selectAll().where('id', '=', w.id).executeTakeFirstOrThrow();
    expect(row.secret).toBe(w.secret);
    expect(JSON.parse(row.events_json)).toEqual(['schedule.approved', 'device.offline']);
    expect((await repo.create({ name: 'S2', url: 'https://s.example/h', events: ['device.offline'], areaId: 'p', createdBy: null })).secret).not.toBe(w.secret);
  });
});
