/**
 * The outbox on a manual clock: reports stored first, sent on connect and every 15 s until the
 * server's ack, through the real session (fake MQTT client) into a real SQLite store.
 * agent.test.ts checks the same against a real broker on real time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceTopic, ManualClock, silentLogger, type PlayReport } from '@loalang/protocol';
import { MqttSession } from '../src/link/mqtt-session.js';
import { Outbox } from '../src/link/outbox.js';
import { AgentStore } from '../src/storage/store.js';
import { fakeConnect, guardFor } from './fake-mqtt.js';
import { testSigner } from './peers.js';

const DEVICE = 'd1';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const report = (n: number): PlayReport => ({ v: 1, reportId: `rep-${n}`, playId: `play-${n}`, scheduleId: 's', contentId: 'c', status: 'completed', scheduledAt: '2026-01-01T00:00:00.000Z', playedMs: 1000 });

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-outbox-'));
  dirs.push(dir);
  const clock = new ManualClock();
  const signer = testSigner();
  const { connect, clients } = fakeConnect();
  const session = new MqttSession({ url: 'mqtt://server', deviceId: DEVICE, password: 'pw', logger: silentLogger, guard: guardFor(signer, () => clock.now()), clock, connect });
  const store = AgentStore.open(dir);
  const outbox = new Outbox(store, session, silentLogger, clock);
  outbox.start();
  session.start();
  const client = clients[0]!;
  /** Report ids sent so far, in order. */
  const sent = () => client.published.filter((p) => p.topic === deviceTopic(DEVICE, 'report')).map((p) => (p.payload as PlayReport).reportId);
  const ack = (reportId: string, moreReportIds?: string[]) =>
    client.deliver(deviceTopic(DEVICE, 'report/ack'), signer.seal(DEVICE, 'report/ack', { v: 1, reportId, ...(moreReportIds ? { moreReportIds } : {}) }, { iat: clock.now() }));
  const stop = async () => {
    outbox.stop();
    await session.stop();
    store.close();
  };
  return { clock, client, store, outbox, sent, ack, stop };
}

describe('outbox on a manual clock', () => {
  it('keeps a report made offline and sends everything pending as soon as the link is up', async () => {
    const { clock, client, store, outbox, sent, stop } = setup();
    outbox.add(report(1), clock.now());
    outbox.add(report(2), clock.now() + 1);
    await clock.settle();
    expect(sent()).toEqual([]);
    expect(store.outboxSize()).toBe(2);
    client.up();
    await clock.settle();
    expect(sent()).toEqual(['rep-1', 'rep-2']);
    expect(store.outboxSize()).toBe(2); // sent is not acknowledged
    await stop();
  });

  it('sends each unacknowledged report again every 15 s while connected, until its ack', async () => {
    const { clock, client, store, outbox, sent, ack, stop } = setup();
    client.up();
    await clock.settle();
    outbox.add(report(1), clock.now());
    expect(sent()).toEqual(['rep-1']); // at once
    await clock.advanceAsync(14_999);
    expect(sent()).toEqual(['rep-1']);
    await clock.advanceAsync(1);
    expect(sent()).toEqual(['rep-1', 'rep-1']);
    await clock.advanceAsync(15_000);
    expect(sent()).toHaveLength(3);
    ack('rep-1');
    await clock.settle();
    expect(store.outboxSize()).toBe(0);
    await clock.advanceAsync(60_000);
    expect(sent()).toHaveLength(3);
    await stop();
  });

  it('tries nothing while the link is down, and a stopped outbox resends nothing', async () => {
    const { clock, client, outbox, sent, stop } = setup();
    outbox.add(report(1), clock.now());
    await clock.advanceAsync(60_000);
    expect(sent()).toEqual([]);
    client.up();
    await clock.settle();
    expect(sent()).toEqual(['rep-1']);
    outbox.stop();
    await clock.advanceAsync(60_000);
    expect(sent()).toEqual(['rep-1']);
    await stop();
  });

  it('a report sent again after a reconnect is the same report (the server dedupes by its id)', async () => {
    const { clock, client, outbox, sent, ack, store, stop } = setup();
    client.up();
    await clock.settle();
    outbox.add(report(1), clock.now());
    client.down();
    await clock.advanceAsync(20_000); // the session reconnects meanwhile
    expect(client.reconnects).toBeGreaterThanOrEqual(1);
    client.up();
    await clock.settle();
    expect(sent()).toEqual(['rep-1', 'rep-1']);
    const payloads = client.published.filter((p) => p.topic === deviceTopic(DEVICE, 'report')).map((p) => p.payload);
    expect(payloads[1]).toEqual(payloads[0]);
    ack('rep-1');
    await clock.settle();
    expect(store.outboxSize()).toBe(0);
    await stop();
  });

  it('says in its online status that one ack may cover several reports, and drops every report an ack names', async () => {
    const { clock, client, outbox, sent, ack, store, stop } = setup();
    client.up();
    await clock.settle();
    const online = client.published.find((p) => p.topic === deviceTopic(DEVICE, 'status'))!.payload as { state: string; features?: string[] };
    expect(online.state).toBe('online');
    expect(online.features).toContain('report-ack-many');
    for (let n = 1; n <= 4; n++) outbox.add(report(n), clock.now() + n);
    expect(sent()).toEqual(['rep-1', 'rep-2', 'rep-3', 'rep-4']);
    ack('rep-1', ['rep-3', 'rep-unknown', 'rep-4']);
    await clock.settle();
    expect(store.pendingReports().map((r) => r.reportId)).toEqual(['rep-2']);
    await clock.advanceAsync(15_000);
    expect(sent().slice(4)).toEqual(['rep-2']); // only the one no ack named is sent again
    await stop();
  });
});
