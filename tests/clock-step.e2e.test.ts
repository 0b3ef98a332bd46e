/**
 * Issue 19, a fault boxes meet: the box's clock is stepped by NTP (or by hand) while a programme
 * runs, an hour ahead and then back past where it was, and it drifts (a poor crystal). A real
 * agent in its own process, the real server. Every play still starts at its instant on the
 * server's time, each is reported once, and the server sees the box's clock move (the
 * clock-offset alarm).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clocksMeasured, reportsOf, scheduleOn, startAgentProcess, startAlertWorld, toneContent, until, type AgentProcess, type AlertWorld } from './alert-support.js';

const HOUR = 3_600_000;
const PASSES = 6;

describe('an agent whose clock is stepped and drifts', () => {
  let world: AlertWorld;
  let agent: AgentProcess | undefined;
  beforeAll(async () => {
    world = await startAlertWorld();
    await world.addUser('quan-tri', 'admin', world.provinceId);
  });
  afterAll(async () => {
    await agent?.stop();
    await world?.close();
  });

  it('plays a programme on server time through steps of an hour either way, each pass reported once', async () => {
    const token = await world.token('quan-tri');
    const contentId = await toneContent(world, 2);
    // A box 1.5 s ahead whose crystal runs 100 ppm fast (8.6 s a day).
    agent = await startAgentProcess(world, 'loa-dong-ho', world.communeId, 1500);
    agent.changeClock({ driftPpm: 100 });
    await clocksMeasured(world, [agent]);

    const firstAt = Date.now() + 6000;
    const scheduleId = await scheduleOn(world, token, agent.id, { contentId, title: 'Bản tin sáng', at: firstAt, passes: PASSES, gapSec: 4 });
    const reports = async () => (await reportsOf(world, token, agent!.id)).filter((r) => r.playId.startsWith(scheduleId));

    // An hour ahead once the first pass is done; an hour and 45 s back once the third is.
    await until('the first pass reported', async () => (await reports()).length >= 1, 30_000);
    agent.changeClock({ stepMs: HOUR });
    await until('the third pass reported', async () => (await reports()).length >= 3, 30_000);
    agent.changeClock({ stepMs: -HOUR - 45_000 });
    const all = await until(`all ${PASSES} passes reported`, async () => ((await reports()).length >= PASSES ? reports() : null), 60_000);

    const sinkStart = (playId: string) => Number(readFileSync(join(agent!.sinkDir, `${playId}.wav.start`), 'utf8'));
    const errors = all.map((r) => sinkStart(r.playId) - Date.parse(r.scheduledAt));
    process.stdout.write(`clock steps: ${PASSES} passes started ${errors.map((e) => e.toFixed(1)).join(', ')} ms after their instants (+1 h after the first, −1 h 45 s after the third, 100 ppm drift)\n`);
    expect(all.map((r) => r.status)).toEqual(Array(PASSES).fill('completed'));
    expect(new Set(all.map((r) => r.playId)).size).toBe(PASSES);
    // On server time: within the alert test's bound for speakers in step, whatever the box's clock says.
    for (const e of errors) expect(Math.abs(e)).toBeLessThan(20);
    // What it reported as its start is server time too.
    for (const r of all) expect(Math.abs(Date.parse(r.startedAt) - Date.parse(r.scheduledAt))).toBeLessThan(50);

    // A person is told: the box's clock is far off (it is 45 s behind now).
    const alarms = await until('clock-offset alarm', async () => {
      const list = (await world.api<{ kind: string; deviceId: string | null }[]>(token, 'GET', '/alarms')).body;
      return list.find((a) => a.kind === 'clock-offset' && a.deviceId === agent!.id) ?? null;
    }, 30_000);
    expect(alarms).toBeTruthy();
    expect(readFileSync(agent.logFile, 'utf8')).toContain('clock was stepped');
  }, 150_000);
});
