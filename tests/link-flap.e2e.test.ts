/**
 * Issue 19, a flapping 4G link: a real agent reaches the broker through the link emulator (rural
 * 4G), and the link goes down and up at random (3–8 s each, the field's 30 s compressed) for a
 * whole programme. Every pass plays at its instant and is reported exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLink, type Link } from '@loalang/test-kit';
import { clocksMeasured, reportsOf, scheduleOn, startAgentProcess, startAlertWorld, toneContent, until, type AgentProcess, type AlertWorld } from './alert-support.js';

const PASSES = 10;
const SCHEDULES = 3;
const SCHEDULE_MS = 21_000;

describe('an agent whose link flaps through a programme', () => {
  let world: AlertWorld;
  let agent: AgentProcess | undefined;
  let link: Link | undefined;
  beforeAll(async () => {
    world = await startAlertWorld();
    await world.addUser('quan-tri', 'admin', world.provinceId);
  });
  afterAll(async () => {
    await agent?.stop();
    await link?.close();
    await world?.close();
  });

  it('plays every pass on time and reports each once while its link goes down and up at random', async () => {
    const token = await world.token('quan-tri');
    link = await startLink({ target: { port: world.server.mqttPort }, profile: 'rural4g' });
    agent = await startAgentProcess(world, 'loa-chap-chon', world.communeId, 0, { mqttUrl: link.url('mqtt') });
    await clocksMeasured(world, [agent]);

    const firstAt = Date.now() + 8000;
    const ids: string[] = [];
    for (let k = 0; k < SCHEDULES; k++) {
      const contentId = await toneContent(world, 1 + k / 100, `Bản tin ${k + 1}`);
      ids.push(await scheduleOn(world, token, agent.id, { contentId, title: `Bản tin ${k + 1}`, at: firstAt + k * SCHEDULE_MS, passes: PASSES }));
    }
    // The programme reaches the box (and its audio is cached) before the link starts flapping.
    await until('the programme cached on the box', () => (readFileSync(agent!.logFile, 'utf8').match(/"content cached"/g) ?? []).length >= SCHEDULES, 20_000);

    const endAt = firstAt + SCHEDULES * SCHEDULE_MS;
    const flaps: string[] = [];
    while (Date.now() < endAt) {
      await new Promise((r) => setTimeout(r, 3000 + Math.random() * 5000));
      link.cut();
      const downMs = 3000 + Math.random() * 5000;
      flaps.push(`${(downMs / 1000).toFixed(1)} s`);
      await new Promise((r) => setTimeout(r, downMs));
      link.restore();
    }

    const reports = () => reportsOf(world, token, agent!.id);
    const expected = SCHEDULES * PASSES;
    const all = await until(`all ${expected} passes reported`, async () => {
      const r = await reports();
      return r.length >= expected ? r : null;
    }, 60_000);
    const sinkStart = (playId: string) => Number(readFileSync(join(agent!.sinkDir, `${playId}.wav.start`), 'utf8'));
    const errors = all.map((r) => sinkStart(r.playId) - Date.parse(r.scheduledAt));
    process.stdout.write(
      `link flaps: ${flaps.length} cuts (${flaps.join(', ')}); ${all.length} reports for ${expected} passes; ` +
        `starts ${Math.min(...errors).toFixed(1)} to ${Math.max(...errors).toFixed(1)} ms from their instants\n`,
    );
    expect(all).toHaveLength(expected);
    expect(new Set(all.map((r) => r.playId)).size).toBe(expected);
    expect(all.map((r) => r.status)).toEqual(Array(expected).fill('completed'));
    // On time whatever the link did: within the alert test's bound for speakers in step.
    for (const e of errors) expect(Math.abs(e)).toBeLessThan(20);
  }, 180_000);
});
