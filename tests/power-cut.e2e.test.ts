/**
 * Issue 19, power cuts: a real agent process is killed (SIGKILL: a power cut, nothing flushed)
 * at random points while it runs a programme, and boots again at once, POWER_CUTS times (20 in
 * the suite; `POWER_CUTS=200 npx vitest run tests/power-cut.e2e.test.ts` for the figure in
 * docs/reliability.md). Each schedule brings new content, so cuts land in downloads as well as
 * in plays, report writes, desired-state writes and start-up. Afterwards: its SQLite store passes
 * integrity_check, every pass of the programme is reported exactly once, and the passes after
 * the last cut play.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { clocksMeasured, reportsOf, scheduleOn, startAgentProcess, startAlertWorld, toneContent, until, type AgentProcess, type AlertWorld } from './alert-support.js';

const CUTS = Number(process.env['POWER_CUTS'] ?? 20);
/** Ten passes of a one-second tone, a second apart: a schedule lasts about 20 s. */
const PASSES = 10;
const SCHEDULE_MS = 21_000;

/** What the agent last logged before it was cut: where the cut landed. */
function lastLogged(logFile: string, from: number): string {
  const lines = readFileSync(logFile, 'utf8').slice(from).trim().split('\n').filter(Boolean);
  for (const line of lines.reverse()) {
    try {
      return (JSON.parse(line) as { msg?: string }).msg ?? '?';
    } catch {
      // a line cut short by the kill
    }
  }
  return 'nothing yet (starting)';
}

describe('an agent through power cuts', () => {
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

  it(`is killed ${CUTS} times at random points: its store stays sound, every pass is reported once, and the programme goes on`, async () => {
    const token = await world.token('quan-tri');
    agent = await startAgentProcess(world, 'loa-mat-dien', world.communeId, 0);
    await clocksMeasured(world, [agent]);

    // Enough programme for the cuts (about 2 s apart) and one schedule after them.
    const schedules = Math.ceil((CUTS * 1700) / SCHEDULE_MS) + 2;
    const firstAt = Date.now() + 4000;
    const ids: string[] = [];
    for (let k = 0; k < schedules; k++) {
      const contentId = await toneContent(world, 1 + k / 100, `Bản tin ${k + 1}`);
      ids.push(await scheduleOn(world, token, agent.id, { contentId, title: `Bản tin ${k + 1}`, at: firstAt + k * SCHEDULE_MS, passes: PASSES }));
    }

    const landed = new Map<string, number>();
    for (let i = 0; i < CUTS; i++) {
      const logged = readFileSync(agent.logFile, 'utf8').length;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 2800));
      const where = lastLogged(agent.logFile, logged);
      landed.set(where, (landed.get(where) ?? 0) + 1);
      await agent.powerCut();
    }

    const reports = () => reportsOf(world, token, agent!.id);
    const expected = schedules * PASSES;
    const all = await until(`all ${expected} passes reported`, async () => {
      const r = await reports();
      return r.length >= expected ? r : null;
    }, schedules * SCHEDULE_MS + 60_000);
    const byStatus = new Map<string, number>();
    for (const r of all) byStatus.set(`${r.status}${r.reason ? ` (${r.reason})` : ''}`, (byStatus.get(`${r.status}${r.reason ? ` (${r.reason})` : ''}`) ?? 0) + 1);
    process.stdout.write(
      `power cuts: ${CUTS} cuts, landing after ${[...landed].sort((a, b) => b[1] - a[1]).map(([m, n]) => `"${m}" ×${n}`).join(', ')}; ` +
        `${all.length} reports for ${expected} passes: ${[...byStatus].map(([s, n]) => `${s} ×${n}`).join(', ')}\n`,
    );

    // Exactly one report per pass, none for anything else.
    expect(all).toHaveLength(expected);
    expect(new Set(all.map((r) => r.playId)).size).toBe(expected);
    expect(all.every((r) => ids.some((id) => r.playId.startsWith(id)))).toBe(true);
    // The last schedule, after the last cut, plays in full.
    const last = all.filter((r) => r.playId.startsWith(ids.at(-1)!));
    expect(last.map((r) => r.status)).toEqual(Array(PASSES).fill('completed'));

    // The store the agent was killed over again and again is sound.
    await agent.stop();
    const db = new Database(join(agent.root, 'cache', 'agent.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect((db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n).toBe(0);
    } finally {
      db.close();
    }
    agent = undefined;
  }, 600_000);
});
