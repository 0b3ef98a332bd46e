/**
 * Issue 19, found by bench/soak.mjs: on SQLite every query answers at once, so refreshing the
 * programmes of 10,000 speakers (a schedule created, the 5-minute tick) ran as one unbroken chain
 * of promise callbacks: no socket was read for over a minute, and the broker dropped every speaker
 * for missed heartbeats. A refresh now gives the event loop a turn between devices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer, type TestServer } from '@loalang/test-kit';

const DEVICES = 400;

describe('a programme refresh over many devices', () => {
  let server: TestServer;
  let ids: string[];
  beforeAll(async () => {
    server = await buildTestServer();
    const { core } = server;
    const area = await core.areas.create({ name: 'Tỉnh', parentId: null });
    ids = Array.from({ length: DEVICES }, (_, i) => `turns-${i}`);
    // Straight into the store: argon2 for each would take the test's whole budget.
    await core.database
      .insertInto('devices')
      .values(ids.map((id) => ({ id, name: `Loa ${id}`, area_id: area.id, secret_hash: 'not-a-login', created_at: new Date().toISOString() })))
      .execute();
  });
  afterAll(async () => server?.close());

  it('lets timers and sockets run while it goes: a timer due 10 ms in fires long before it ends', async () => {
    let done = false;
    let firedAfter: number | null = null;
    const t0 = performance.now();
    const timer = setTimeout(() => (firedAfter = done ? null : performance.now() - t0), 10);
    await server.core.refreshDevices(ids);
    done = true;
    const tookMs = performance.now() - t0;
    clearTimeout(timer);
    // Every device was refreshed (each has a programme, version 1, empty).
    const rows = await server.core.database.selectFrom('device_desired').select('device_id').execute();
    expect(rows).toHaveLength(DEVICES);
    expect(tookMs, 'the refresh must outlast the timer for the check to mean anything').toBeGreaterThan(30);
    expect(firedAfter, `the timer waited for the whole refresh (${tookMs.toFixed(0)} ms)`).not.toBeNull();
    expect(firedAfter!).toBeLessThan(tookMs);
  });
});
