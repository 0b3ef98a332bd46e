/**
 * An alert goes to the speakers before its delivery rows are written (issue 19: the 10,000 rows
 * took 28 ms of the fan-out), and nothing a speaker says is lost for it: a status that comes
 * before the rows (on a cluster, from a speaker on another node) is tried again until they are
 * there; one for a delivery the alert never holds is dropped after a few tries, with a warning;
 * an alert whose sender stopped between sending it and writing its rows gets them from the
 * leader's sweep. On SQLite, and on PostgreSQL where the run's cluster is up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, type Logger } from '@loalang/protocol';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openStore, type Store } from '../src/store/database.js';
import { AlertRepo, type Alert } from '../src/alerts/alerts.js';
import { AlertService, DEFAULT_ALERT_OPTIONS, type AlertPublisher, type DeliveryEvent } from '../src/alerts/service.js';
import { AreaRepo } from '../src/areas/areas.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { ContentRepo } from '../src/content/content-repo.js';

const DEVICES = 600;
const T0 = Date.parse('2026-11-29T08:00:00.000Z');
const deviceId = (i: number) => `d${String(i).padStart(4, '0')}`;

type Backend = { name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> };
const backends: Backend[] = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loalang-alert-first-'));
      const store = await openStore({ file: join(dir, 'test.db') });
      return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
];
if (postgresUrl()) {
  backends.push({
    name: 'postgres',
    open: async () => {
      const store = await openStore({ url: await freshPostgres('alert_first'), file: '' });
      return { store, close: () => store.close() };
    },
  });
}

describe.each(backends)('an alert sent before its delivery rows, on $name', (backend) => {
  let opened: Awaited<ReturnType<Backend['open']>>;
  let repo: AlertRepo;
  const clock = new ManualClock(T0);
  const warnings: object[] = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (o) => void warnings.push(o as object) };
  /** For each area publish: whether the alert held any delivery row when it went out. */
  const published: Promise<boolean>[] = [];
  const publisher: AlertPublisher = {
    publishToArea: async (_area, _kind, message) => void published.push(repo.hasDeliveries((message as { alertId: string }).alertId)),
    publishToDevice: async () => undefined,
    isOnline: () => true,
    listensToArea: () => true,
  };
  let service: AlertService;
  const events: DeliveryEvent[] = [];

  const status = (alertId: string) => ({ v: 1 as const, alertId, state: 'received' as const, at: new Date(clock.now()).toISOString() });
  /** Lets the queued statuses be written (a turn, then the database). */
  const written = () => new Promise((r) => setTimeout(r, 50));

  const alertRow = (id: string): Alert => ({
    id,
    title: 'Lũ quét',
    text: null,
    contentId: 'c1',
    priority: 'emergency',
    targets: { areaIds: ['xa'], deviceIds: [] },
    repeat: 1,
    gapMs: 0,
    volume: null,
    startAt: new Date(T0 + 1500).toISOString(),
    expiresAt: new Date(T0 + 3600_000).toISOString(),
    state: 'active',
    replaces: null,
    replacedBy: null,
    cap: null,
    createdBy: null,
    createdAt: new Date(T0).toISOString(),
    endedAt: null,
  });

  beforeAll(async () => {
    opened = await backend.open();
    const db = opened.store.db;
    const areas = new AreaRepo(db, () => clock.now());
    await areas.create({ name: 'Xã Hải An', parentId: null, id: 'xa' });
    for (let i = 0; i < DEVICES; i += 300) {
      const rows = Array.from({ length: Math.min(300, DEVICES - i) }, (_, k) => deviceId(i + k)).map((id) => ({ id, name: id, area_id: 'xa', secret_hash: 'h', created_at: new Date(T0).toISOString(), last_seen_at: null, agent_version: null, latest_telemetry: null, reported_version: null, lat: null, lon: null }));
      await db.insertInto('devices').values(rows).execute();
    }
    await db
      .insertInto('content')
      .values({ id: 'c1', title: 'Lũ', area_id: 'xa', original_name: null, mime_type: 'audio/ogg', sha256: 'a'.repeat(64), size_bytes: 1000, duration_ms: 5000, source_json: '{}', created_by: null, created_at: new Date(T0).toISOString(), speech_key: null })
      .execute();
    repo = new AlertRepo(db);
    service = new AlertService(
      { repo, devices: new DeviceRepo(db, areas, () => clock.now()), content: new ContentRepo(db, () => clock.now()), publisher, contentPath: () => '/nonexistent', publicHttpUrl: () => 'http://127.0.0.1:1', clock, logger },
      DEFAULT_ALERT_OPTIONS,
    );
    service.on('delivery', (e) => events.push(e));
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await opened?.close();
  });

  it('sends the alert first, then writes a delivery per speaker', async () => {
    const alert = await service.create({ title: 'Lũ quét', text: null, contentId: 'c1', priority: 'emergency', targets: { areaIds: ['xa'], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, replaces: null, cap: null, createdBy: null, expiresAt: null });
    expect(published).toHaveLength(1);
    expect(await published[0]).toBe(false);
    expect(await repo.totals(alert.id)).toMatchObject({ pending: DEVICES });
  });

  it('a status that comes before the rows is kept until they are written, and moves its delivery once', async () => {
    const alert = alertRow('A-early');
    await repo.insertAlert(alert);
    for (let i = 0; i < 3; i++) service.onStatus(deviceId(i), status(alert.id));
    await written();
    clock.advance(500); // tried again: still no rows
    await written();
    expect(events.filter((e) => e.alertId === alert.id)).toEqual([]);
    await repo.addDeliveries(alert, Array.from({ length: DEVICES }, (_, i) => ({ deviceId: deviceId(i), state: 'pending' as const })));
    clock.advance(500);
    await written();
    expect(events.filter((e) => e.alertId === alert.id).map((e) => [e.deviceId, e.state])).toEqual([0, 1, 2].map((i) => [deviceId(i), 'received']));
    expect(await repo.totals(alert.id)).toMatchObject({ received: 3, pending: DEVICES - 3 });
    // The rows written twice (the leader's sweep and the sender both) leave the statuses as they are.
    await repo.addDeliveries(alert, [{ deviceId: deviceId(0), state: 'pending' }]);
    expect(await repo.totals(alert.id)).toMatchObject({ received: 3, pending: DEVICES - 3 });
    expect(await repo.withoutDelivery(alert.id, [deviceId(0), 'stranger', 'stranger'])).toEqual(['stranger']);
  });

  it('a status for a delivery the alert never holds is dropped after ten tries, with a warning', async () => {
    const alert = alertRow('A-stranger');
    await repo.insert(alert, [{ deviceId: deviceId(0), state: 'pending' }]);
    service.onStatus('stranger', status(alert.id));
    for (let i = 0; i < 12; i++) {
      await written();
      clock.advance(500);
    }
    await written();
    expect(warnings).toEqual([expect.objectContaining({ alertId: alert.id, deviceId: 'stranger' })]);
    expect(events.filter((e) => e.alertId === alert.id)).toEqual([]);
  });

  it('rows the database refuses (it restarts) are written again; the alert is sent once and its caller gets it', async () => {
    let refusals = 1;
    const flaky = Object.assign(Object.create(repo) as AlertRepo, {
      addDeliveries: async (...args: Parameters<AlertRepo['addDeliveries']>) => {
        if (refusals-- > 0) throw new Error('connection terminated (database restarting)');
        return repo.addDeliveries(...args);
      },
    });
    const errors: object[] = [];
    const again = new AlertService(
      { repo: flaky, devices: new DeviceRepo(opened.store.db, new AreaRepo(opened.store.db, () => clock.now()), () => clock.now()), content: new ContentRepo(opened.store.db, () => clock.now()), publisher, contentPath: () => '/nonexistent', publicHttpUrl: () => 'http://127.0.0.1:1', clock, logger: { ...logger, error: (o) => void errors.push(o as object) } },
      DEFAULT_ALERT_OPTIONS,
    );
    const sentBefore = published.length;
    const alert = await again.create({ title: 'Lũ quét', text: null, contentId: 'c1', priority: 'emergency', targets: { areaIds: ['xa'], deviceIds: [] }, repeat: 1, gapMs: 0, volume: null, replaces: null, cap: null, createdBy: null, expiresAt: null });
    expect(published.length - sentBefore).toBe(1);
    expect(errors).toContainEqual(expect.objectContaining({ alertId: alert.id }));
    expect(await repo.hasDeliveries(alert.id)).toBe(false);
    clock.advance(1000);
    await written();
    expect(await repo.totals(alert.id)).toMatchObject({ pending: DEVICES });
    await again.stop();
  });

  it('an active alert without rows (its sender stopped in between) gets them from the sweep', async () => {
    const alert = alertRow('A-orphan');
    await repo.insertAlert(alert);
    expect(await repo.hasDeliveries(alert.id)).toBe(false);
    await service.armExpiries();
    expect(await repo.totals(alert.id)).toMatchObject({ pending: DEVICES });
    expect(warnings).toContainEqual(expect.objectContaining({ alertId: alert.id, devices: DEVICES }));
  });
});
