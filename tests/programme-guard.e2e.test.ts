/**
 * One runaway schedule no longer silences a speaker (issue 14). With real agents over MQTT: a
 * `* * * * * *` schedule stored by an older server is cut to fit what the speaker accepts, the
 * speaker's normal bulletin still plays, and technicians see a `programme` alarm, which clears
 * once the runaway is deleted and the speaker holds its programme whole. A speaker that refuses
 * its programme for any reason (here: it pins another server's key) raises the same alarm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSigningKey } from '@loalang/protocol';
import { startAgent, startAlertWorld, TimedSink, toneContent, type AlertWorld, type RunningAgent } from './alert-support.js';
import { requireTool, until } from './support.js';

type Alarm = { deviceId: string; kind: string; detail: string; labelVi: string; clearedAt: string | null };

describe.skipIf(!requireTool('ffmpeg'))('a speaker\'s programme reaches it, or a technician is told', () => {
  let world: AlertWorld;
  let token = '';
  const agents: RunningAgent[] = [];
  beforeAll(async () => {
    world = await startAlertWorld();
    await world.addUser('ky-thuat', 'technician', world.provinceId);
    await world.addUser('quan-tri', 'admin', world.communeId);
    token = await world.token('ky-thuat');
  });
  afterAll(async () => {
    for (const a of agents) await a.agent.stop();
    await world?.close();
  });

  const alarms = async (deviceId: string) => (await world.api<Alarm[]>(token, 'GET', `/alarms?active=true&deviceId=${deviceId}`)).body.filter((a) => a.kind === 'programme');

  it('a runaway schedule is cut to fit, the bulletin still plays, and the alarm clears once the runaway is gone', async () => {
    const { core } = world.server;
    const agent = await startAgent(world, 'Loa chợ', world.communeId, { sink: new TimedSink(300) });
    agents.push(agent);
    const tone = await toneContent(world, 1);
    const admin = (await core.users.list()).find((u) => u.username === 'quan-tri')!;
    const base = { areaId: world.communeId, priority: 'normal' as const, targets: { areaIds: [world.communeId], deviceIds: [] }, volume: null, repeat: { count: 1, gapSec: 0 }, createdBy: admin.id, approvedBy: admin.id };
    // Stored as an older server stored it, without today's checks.
    const runaway = await core.schedules.create({ ...base, title: 'Lịch chạy loạn', start: new Date(Date.now() + 60_000).toISOString(), items: [{ contentId: tone }], recurrence: { type: 'cron', cron: '* * * * * *' } });
    const bulletin = await core.schedules.create({ ...base, title: 'Bản tin trưa', priority: 'priority', start: new Date(Date.now() + 8000).toISOString(), items: [{ contentId: tone }], recurrence: null });
    await core.refreshDevices([agent.id]);

    const [alarm] = await until('the programme alarm', 10_000, async () => (await alarms(agent.id)).at(0) && alarms(agent.id));
    expect(alarm).toMatchObject({ labelVi: 'Lịch phát không đến được loa', detail: expect.stringContaining('"Lịch chạy loạn" keeps') });
    const report = await until('the bulletin played', 30_000, async () => (await core.reports.query({ deviceIds: new Set([agent.id]) })).find((r) => r.scheduleId === bulletin.id));
    expect(report.status).toBe('completed');

    const admin2 = await world.token('quan-tri');
    expect((await world.api(admin2, 'DELETE', `/schedules/${runaway.id}`)).status).toBe(204);
    await until('the alarm cleared', 15_000, async () => (await alarms(agent.id)).length === 0);
  }, 60_000);

  it('a speaker that refuses its programme raises the alarm, naming why', async () => {
    const stranger = newSigningKey();
    const agent = await startAgent(world, 'Loa thôn Tây', world.communeId, { sink: new TimedSink(300), serverKeys: [{ kid: stranger.kid, publicKey: stranger.publicKey }] });
    agents.push(agent);
    const [alarm] = await until('the programme alarm', 15_000, async () => (await alarms(agent.id)).at(0) && alarms(agent.id));
    expect(alarm!.detail).toContain('the speaker refused its programme: unknown-key');
  }, 30_000);
});
