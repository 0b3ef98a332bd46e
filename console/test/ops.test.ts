/** OpenAPI, liveness and metrics: outside /api/v1, no login. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await buildTestServer();
});
afterAll(async () => t?.close());

describe('operations endpoints', () => {
  it('describes the API in OpenAPI and serves its UI', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(spec.statusCode).toBe(200);
    const doc = spec.json() as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of ['/api/v1/auth/login', '/api/v1/devices', '/api/v1/content', '/api/v1/schedules/{id}/approve', '/api/v1/reports', '/api/v1/users']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const ui = await t.app.inject({ method: 'GET', url: '/api/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });

  it('answers /healthz and /metrics', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'ok' });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('loalang_devices{state="online"} 0');
    expect(metrics.body).toContain('# TYPE loalang_mqtt_connected_clients gauge');
    expect(metrics.body).toContain('# TYPE loalang_plays_total counter');
    expect(metrics.body).toContain('loalang_server_process_resident_memory_bytes');
    // Figures follow the data: an alarm and a report appear at the next scrape.
    await t.core.areas.create({ name: 'Xã', parentId: null, id: 'm' });
    const { device } = await t.core.devices.create({ name: 'Loa', areaId: 'm' });
    await t.core.alarms.raise(device.id, 'mains-lost', null, Date.now());
    const now = new Date().toISOString();
    await t.core.reports.insert(device.id, { v: 1, reportId: 'r1', playId: 'p1', scheduleId: 's', contentId: 'c', status: 'failed', scheduledAt: now, playedMs: 0 });
    const again = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(again).toContain('loalang_alarms_active{kind="mains-lost"} 1');
    expect(again).toContain('loalang_plays_total{status="failed"} 1');
    expect(again).toContain('loalang_devices{state="offline"} 1');
    // What waits in the outbox (decision 0030), and for how long.
    await t.core.outbox.enqueue({ channel: 'upstream', kind: 'registry', body: '{}' });
    const owed = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(owed).toMatch(/loalang_outbox_messages\{channel="upstream",state="(pending|dropped)"\} 1/);
  });

  it('answers unknown routes with the error shape in both languages', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'LOA_ERR_NOT_FOUND', messageVi: expect.any(String) } });
  });
});
