/**
 * The outbox on a manual clock: reports stored first, sent on connect (once the server's first
 * time reply says what it accepts) and every 15 s until the server's ack, through the real
 * session (fake MQTT client) into a real SQLite store.
 * agent.test.ts checks the same against a real broker on real time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceTopic, ManualClock, MAX_REPORTS_PER_BATCH, silentLogger, type PlayReport, type ReportBatch } from '@loalang/protocol';
import { MqttSession } from '../src/link/mqtt-session.js';
import { Outbox, SERVER_FEATURES_WAIT_MS } from '../src/link/outbox.js';
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
  const { connect: fakeMqttConnect, clients } = fakeConnect();
  const session = new MqttSession({ url: 'mqtt://server', deviceId: DEVICE, password: 'pw', logger: silentLogger, guard: guardFor(signer, () => clock.now()), clock, connect: fakeMqttConnect });
  const store = AgentStore.open(dir);
  const outbox = new Outbox(store, session, silentLogger, clock);
  outbox.start();
  session.start();
  const client = clients[0]!;
  /** Report ids sent so far, in order. */
  const sent = () => client.published.filter((p) => p.topic === deviceTopic(DEVICE, 'report')).map((p) => (p.payload as PlayReport).reportId);
  /** The reports of each batch message sent so far, as report ids. */
  const batches = () => client.published.filter((p) => p.topic === deviceTopic(DEVICE, 'reports')).map((p) => (p.payload as ReportBatch).reports.map((r) => r.reportId));
  const ack = (reportId: string, moreReportIds?: string[]) =>
    client.deliver(deviceTopic(DEVICE, 'report/ack'), signer.seal(DEVICE, 'report/ack', { v: 1, reportId, ...(moreReportIds ? { moreReportIds } : {}) }, { iat: clock.now() }));
  /** The server answers a time probe, naming the features it accepts (none: a server before them). */
  const timeReply = (features?: string[]) =>
    client.deliver(deviceTopic(DEVICE, 'time/reply'), signer.seal(DEVICE, 'time/reply', { v: 1, t0: clock.now(), t1: clock.now(), t2: clock.now(), ...(features ? { features } : {}) }, { iat: clock.now() }));
  /** The link comes up and the server's first time reply arrives. */
  const connect = async (features?: string[]) => {
    client.up();
    await clock.settle();
    timeReply(features);
    await clock.settle();
  };
  const stop = async () => {
    outbox.stop();
    await session.stop();
    store.close();
  };
  return { clock, client, store, outbox, sent, batches, ack, timeReply, connect, stop };
}

describe('outbox on a manual clock', () => {
  it('keeps a report made offline and sends everything pending once the link is up and the server has answered a time probe', async () => {
    const { clock, client, store, outbox, sent, batches, timeReply, stop } = setup();
    outbox.add(report(1), clock.now());
    outbox.add(report(2), clock.now() + 1);
    await clock.settle();
    expect(sent()).toEqual([]);
    expect(store.outboxSize()).toBe(2);
    client.up();
    await clock.settle();
    expect(sent()).toEqual([]); // what this server accepts is not known yet
    timeReply(); // a server before `report-batch`: one message per report
    await clock.settle();
    expect(sent()).toEqual(['rep-1', 'rep-2']);
    expect(batches()).toEqual([]);
    expect(store.outboxSize()).toBe(2); // sent is not acknowledged
    await stop();
  });

  it('sends the backlog one report per message when no time reply comes within 2 s of connecting', async () => {
    const { clock, client, outbox, sent, batches, stop } = setup();
    outbox.add(report(1), clock.now());
    client.up();
    await clock.advanceAsync(SERVER_FEATURES_WAIT_MS - 1);
    expect(sent()).toEqual([]);
    await clock.advanceAsync(1);
    expect(sent()).toEqual(['rep-1']);
    expect(batches()).toEqual([]);
    await stop();
  });

  it('to a server that accepts report-batch, sends the backlog in messages of at most 100 reports, and each ack removes what it names', async () => {
    const { clock, outbox, sent, batches, ack, connect, store, stop } = setup();
    const total = 2 * MAX_REPORTS_PER_BATCH + 50;
    for (let n = 1; n <= total; n++) outbox.add(report(n), clock.now() + n);
    await connect(['report-batch', 'a-feature-from-the-future']);
    expect(sent()).toEqual([]);
    expect(batches().map((b) => b.length)).toEqual([MAX_REPORTS_PER_BATCH, MAX_REPORTS_PER_BATCH, 50]);
    expect(batches().flat()).toEqual(Array.from({ length: total }, (_, i) => `rep-${i + 1}`)); // oldest first, each once
    const first = batches()[0]!;
    ack(first[0]!, first.slice(1));
    await clock.settle();
    expect(store.outboxSize()).toBe(total - MAX_REPORTS_PER_BATCH);
    // A new play's report still goes at once, on its own.
    outbox.add(report(total + 1), clock.now());
    expect(sent()).toEqual([`rep-${total + 1}`]);
    await clock.advanceAsync(15_000); // the resend goes in batches too
    expect(batches().slice(3).map((b) => b.length)).toEqual([MAX_REPORTS_PER_BATCH, 51]);
    await stop();
  });

  it('learns the features again on every connection: a server without report-batch gets single reports', async () => {
    const { clock, client, outbox, sent, batches, connect, stop } = setup();
    await connect(['report-batch']);
    outbox.add(report(1), clock.now());
    outbox.add(report(2), clock.now() + 1);
    client.down();
    await clock.advanceAsync(20_000); // the session reconnects meanwhile
    const before = sent().length;
    await connect(); // e.g. a node of an older version
    expect(sent().slice(before)).toEqual(['rep-1', 'rep-2']);
    expect(batches()).toEqual([]);
    await stop();
  });

  it('sends each unacknowledged report again every 15 s while connected, until its ack', async () => {
    const { clock, store, outbox, sent, ack, connect, stop } = setup();
    await connect();
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
    const { clock, outbox, sent, connect, stop } = setup();
    outbox.add(report(1), clock.now());
    await clock.advanceAsync(60_000);
    expect(sent()).toEqual([]);
    await connect();
    expect(sent()).toEqual(['rep-1']);
    outbox.stop();
    await clock.advanceAsync(60_000);
    expect(sent()).toEqual(['rep-1']);
    await stop();
  });

  it('a report sent again after a reconnect is the same report (the server dedupes by its id)', async () => {
    const { clock, client, outbox, sent, ack, store, connect, stop } = setup();
    await connect();
    outbox.add(report(1), clock.now());
    client.down();
    await clock.advanceAsync(20_000); // the session reconnects meanwhile
    expect(client.reconnects).toBeGreaterThanOrEqual(1);
    await connect();
    expect(sent()).toEqual(['rep-1', 'rep-1']);
    const payloads = client.published.filter((p) => p.topic === deviceTopic(DEVICE, 'report')).map((p) => p.payload);
    expect(payloads[1]).toEqual(payloads[0]);
    ack('rep-1');
    await clock.settle();
    expect(store.outboxSize()).toBe(0);
    await stop();
  });

  it('says in its online status that one ack may cover several reports, and drops every report an ack names', async () => {
    const { clock, client, outbox, sent, ack, store, connect, stop } = setup();
    await connect();
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

describe('a disk that refuses writes (issue 19)', () => {
  it('the store says so instead of throwing, and takes writes again once there is room', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-store-full-'));
    dirs.push(dir);
    const failures: string[] = [];
    const store = AgentStore.open(dir, (what, err) => failures.push(`${what}: ${err.code}`));
    // SQLite's own cap on the file's pages: a real SQLITE_FULL, as a full disk gives.
    const db = (store as unknown as { db: { pragma: (s: string, o?: object) => unknown } }).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const big = 'x'.repeat(64 * 1024);
    expect(() => store.saveVolume(70)).not.toThrow();
    expect(store.addReport({ ...report(1), reason: big }, 0)).toBe(false);
    expect(store.writeFailure()).toEqual({ what: 'report', code: 'SQLITE_FULL' });
    expect(failures).toContain('report: SQLITE_FULL');
    expect(store.outboxSize()).toBe(0);
    db.pragma(`max_page_count = ${pages + 1000}`);
    expect(store.addReport({ ...report(1), reason: big }, 0)).toBe(true);
    expect(store.writeFailure()).toBeNull();
    expect(store.outboxSize()).toBe(1);
    store.close();
  });

  it('a report the store cannot take is sent all the same, kept until acknowledged, and stored once the disk takes it', async () => {
    const { clock, store, outbox, sent, ack, connect, stop } = setup();
    await connect(['report-batch']);
    const addReport = store.addReport.bind(store);
    let full = true;
    store.addReport = (r, at) => (full ? false : addReport(r, at));
    outbox.add(report(1), clock.now());
    outbox.add(report(2), clock.now());
    await clock.settle();
    expect(sent()).toEqual(['rep-1', 'rep-2']);
    expect(outbox.unstoredCount()).toBe(2);
    expect(store.outboxSize()).toBe(0);
    ack('rep-1');
    await clock.settle();
    expect(outbox.unstoredCount()).toBe(1);
    // Room again: the next resend stores what is still unacknowledged (it now survives a restart).
    full = false;
    await clock.advanceAsync(15_000);
    expect(outbox.unstoredCount()).toBe(0);
    expect(store.pendingReports().map((r) => r.reportId)).toEqual(['rep-2']);
    await stop();
  });
});
