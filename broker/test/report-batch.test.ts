/**
 * Issue 16: play reports are stored in batches. `ReportIntake.acceptBatch` on SQLite and
 * PostgreSQL must give every report of a batch the outcome it would have had alone, also when
 * the batch repeats a report or reports one play twice, and two servers storing overlapping
 * batches at once must store each report once. `ReportBatcher` (no database) collects the
 * reports on the clock's window and size, and settles each report with its batch.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ManualClock, type DesiredPlay, type PlayReport } from '@loalang/protocol';
import { databases } from '@loalang/test-kit';
import type { Database } from '../src/store/database.js';
import { openDatabasePair, type DatabasePair } from './database-pair.js';
import { ReportRepo, type ReportEntry } from '../src/reports/reports.js';
import { IssuedPlays } from '../src/reports/issued-plays.js';
import { ReportIntake, type AlertPlay, type IntakeOutcome } from '../src/reports/intake.js';
import { ReportBatcher } from '../src/reports/batch-intake.js';
import { AlarmRepo, type AlarmChange } from '../src/alarms/alarms.js';
import { AlarmRules, DEFAULT_ALARM_THRESHOLDS } from '../src/alarms/rules.js';
import { DeviceRepo } from '../src/devices/devices.js';
import { AreaRepo } from '../src/areas/areas.js';
import { silentLogger } from '@loalang/protocol';

const NOW = Date.parse('2026-11-28T10:00:00.000Z');
const play = (playId: string, durationMs: number, scheduleId = 's1'): DesiredPlay =>
  ({ playId, scheduleId, contentId: 'c1', sha256: 'a'.repeat(64), url: 'u', durationMs, startAt: '2026-11-22T06:00:00.000Z', priority: 'normal' }) as DesiredPlay;
const rep = (reportId: string, playId: string, extra: Partial<PlayReport> = {}): PlayReport => ({
  v: 1,
  reportId,
  playId,
  scheduleId: 's1',
  contentId: 'c1',
  status: 'completed',
  scheduledAt: '2026-11-22T06:00:00.000Z',
  startedAt: '2026-11-22T06:00:00.001Z',
  endedAt: '2026-11-22T06:00:05.000Z',
  playedMs: 4999,
  ...extra,
});
const entry = (deviceId: string, report: PlayReport): ReportEntry => ({ deviceId, report });

/** The alert board's answer for one alert sent to d1 (content c1, 2 repetitions of 5 s); counts the lookups. */
function alertStub() {
  const calls: string[] = [];
  return {
    calls,
    playFor: async (alertId: string, deviceId: string): Promise<AlertPlay | null> => {
      calls.push(`${alertId}/${deviceId}`);
      return alertId === 'al1' && deviceId === 'd1' ? { contentId: 'c1', repeat: 2, durationMs: 5000 } : null;
    },
  };
}

function intakeOn(db: Database, alerts = alertStub()): ReportIntake {
  return new ReportIntake({ reports: new ReportRepo(db, () => NOW), issued: new IssuedPlays(db), alerts, now: () => NOW });
}

/** What the database holds: stored reports and refusals, in a stable order. */
async function contents(db: Database) {
  const reports = await db.selectFrom('reports').select(['report_id', 'device_id', 'play_id', 'status', 'played_ms']).orderBy('report_id').execute();
  const refused = await db.selectFrom('refused_reports').select(['report_id', 'device_id', 'refusal', 'played_ms']).orderBy('report_id').execute();
  return { reports: reports.map((r) => ({ ...r, played_ms: Number(r.played_ms) })), refused: refused.map((r) => ({ ...r, played_ms: Number(r.played_ms) })) };
}

async function seed(db: Database): Promise<void> {
  const issued = new IssuedPlays(db);
  await issued.record('d1', [play('p1', 5000), play('p2', 5000), play('p3', 5000), play('p4', 5000), play('p5', 5000), play('other', 5000, 's2')]);
  await issued.record('d2', [play('p1', 5000)]);
}

/** One batch with every case: new, resent, taken, unknown, too long, wrong schedule, inconsistent, alert repetitions, and repeats within the batch. */
const mixed: ReportEntry[] = [
  entry('d1', rep('new-1', 'p1')),
  entry('d1', rep('old', 'p2')), // stored before the batch: resent
  entry('d1', rep('late', 'p3', { status: 'failed', playedMs: 0 })), // p3 already reported: taken
  entry('d1', rep('invented', 'never-given')),
  entry('d1', rep('other-content', 'p4', { contentId: 'c9' })),
  entry('d1', rep('inflated', 'p4', { playedMs: 99_999_999 })),
  entry('d1', rep('borrowed', 'other')), // a play of s2 reported as s1
  entry('d1', rep('odd', 'p5', { status: 'skipped', playedMs: 300 })),
  entry('d2', rep('d2-first', 'p1')),
  entry('d2', rep('d2-dup', 'p1')), // a second report of the same play, same batch: taken
  entry('d1', rep('new-1', 'p1')), // the same report twice in one batch: resent
  entry('d1', rep('al-1', 'al1-r1', { scheduleId: 'al1' })),
  entry('d1', rep('al-2', 'al1-r2', { scheduleId: 'al1' })),
  entry('d1', rep('al-3', 'al1-r3', { scheduleId: 'al1' })), // beyond the alert's 2 repetitions
  entry('d2', rep('al-d2', 'al1-r1', { scheduleId: 'al1' })), // not sent to d2
  entry('d1', rep('inflated', 'p4', { playedMs: 99_999_999 })), // a refusal repeated: recorded once
];

const EXPECTED: IntakeOutcome[] = [
  { outcome: 'stored', alert: false },
  { outcome: 'resent' },
  { outcome: 'refused', refusal: 'already-reported', detail: 'play p3 already has its final report', record: true },
  { outcome: 'refused', refusal: 'unknown-play', detail: 'play never-given of content c1 was never given to this device', record: true },
  { outcome: 'refused', refusal: 'unknown-play', detail: 'play p4 of content c9 was never given to this device', record: true },
  { outcome: 'refused', refusal: 'too-long', detail: 'played 99999999 ms of a 5000 ms play', record: true },
  { outcome: 'refused', refusal: 'wrong-schedule', detail: 'play other belongs to s2, not s1', record: true },
  { outcome: 'refused', refusal: 'inconsistent', detail: 'a skipped play cannot have played 300 ms', record: true },
  { outcome: 'stored', alert: false },
  { outcome: 'refused', refusal: 'already-reported', detail: 'play p1 already has its final report', record: true },
  { outcome: 'resent' },
  { outcome: 'stored', alert: true },
  { outcome: 'stored', alert: true },
  { outcome: 'refused', refusal: 'unknown-play', detail: 'play al1-r3 of content c1 was never given to this device', record: true },
  { outcome: 'refused', refusal: 'unknown-play', detail: 'play al1-r1 of content c1 was never given to this device', record: true },
  { outcome: 'refused', refusal: 'too-long', detail: 'played 99999999 ms of a 5000 ms play', record: false },
];

describe.each(databases())('report batches on $dialect', ({ dialect, skip }) => {
  let db: DatabasePair;
  beforeEach(async () => {
    if (!skip) db = await openDatabasePair(dialect, 'batch');
  });
  afterEach(async () => {
    if (!skip) await db.close();
  });

  describe.skipIf(skip)('ReportIntake.acceptBatch', () => {
    async function before(d: Database): Promise<void> {
      await seed(d);
      const intake = intakeOn(d);
      expect(await intake.accept('d1', rep('old', 'p2'))).toEqual({ outcome: 'stored', alert: false });
      expect(await intake.accept('d1', rep('first', 'p3'))).toEqual({ outcome: 'stored', alert: false });
    }

    it('gives every report of a mixed batch the outcome it has alone, and stores the same rows', async () => {
      await before(db.a);
      const alerts = alertStub();
      expect(await intakeOn(db.a, alerts).acceptBatch(mixed)).toEqual(EXPECTED);
      // One lookup per alert and device, however many repetitions the batch holds.
      expect(alerts.calls.sort()).toEqual(['al1/d1', 'al1/d2']);
      const batched = await contents(db.a);

      // The same reports one at a time, in order, on an empty database of the same kind.
      const alone = await openDatabasePair(dialect, 'batch');
      try {
        await before(alone.a);
        const intake = intakeOn(alone.a);
        const outcomes: IntakeOutcome[] = [];
        for (const e of mixed) outcomes.push(await intake.accept(e.deviceId, e.report));
        expect(outcomes).toEqual(EXPECTED);
        expect(await contents(alone.a)).toEqual(batched);
      } finally {
        await alone.close();
      }
      expect(batched.reports.map((r) => r.report_id)).toEqual(['al-1', 'al-2', 'd2-first', 'first', 'new-1', 'old']);
      expect(batched.refused.map((r) => `${r.report_id}:${r.refusal}`)).toEqual([
        'al-3:unknown-play',
        'al-d2:unknown-play',
        'borrowed:wrong-schedule',
        'd2-dup:already-reported',
        'inflated:too-long',
        'invented:unknown-play',
        'late:already-reported',
        'odd:inconsistent',
        'other-content:unknown-play',
      ]);
    });

    it('sent again whole, the batch adds no row: stored ones are resent, refusals are not recorded twice', async () => {
      await before(db.a);
      const intake = intakeOn(db.a);
      await intake.acceptBatch(mixed);
      const rows = await contents(db.a);
      const again = await intake.acceptBatch(mixed);
      expect(again.map((o) => o.outcome)).toEqual(EXPECTED.map((o) => (o.outcome === 'stored' ? 'resent' : o.outcome)));
      expect(again.filter((o) => o.outcome === 'refused' && o.record)).toEqual([]);
      expect(await contents(db.a)).toEqual(rows);
    });

    it('of two reports of one play in a batch, the first one stands', async () => {
      await seed(db.a);
      const outcomes = await intakeOn(db.a).acceptBatch([entry('d1', rep('skip', 'p1', { status: 'skipped', reason: 'late', playedMs: 0 })), entry('d1', rep('rewrite', 'p1', { playedMs: 5000 }))]);
      expect(outcomes.map((o) => (o.outcome === 'refused' ? o.refusal : o.outcome))).toEqual(['stored', 'already-reported']);
      expect((await contents(db.a)).reports).toEqual([{ report_id: 'skip', device_id: 'd1', play_id: 'p1', status: 'skipped', played_ms: 0 }]);
    });

    it('an empty batch asks nothing; a batch larger than one INSERT is stored whole', async () => {
      await expect(intakeOn(db.a).acceptBatch([])).resolves.toEqual([]);
      const plays = Array.from({ length: 1500 }, (_, i) => play(`q${i}`, 5000));
      await new IssuedPlays(db.a).record('d1', plays);
      const outcomes = await intakeOn(db.a).acceptBatch(plays.map((p, i) => entry('d1', rep(`big-${i}`, p.playId))));
      expect(outcomes.every((o) => o.outcome === 'stored')).toBe(true);
      expect((await contents(db.a)).reports).toHaveLength(1500);
    });

    it('a batch whose transaction fails stores nothing and rejects, so every report of it is sent again', async () => {
      await seed(db.a);
      // The refusals' table is gone: the batch's second statement fails after its first inserted.
      await sql`ALTER TABLE refused_reports RENAME TO refused_reports_away`.execute(db.a);
      await expect(intakeOn(db.a).acceptBatch([entry('d1', rep('fine', 'p1')), entry('d1', rep('invented', 'never-given'))])).rejects.toThrow();
      expect(await db.a.selectFrom('reports').selectAll().execute()).toEqual([]);
      await sql`ALTER TABLE refused_reports_away RENAME TO refused_reports`.execute(db.a);
      expect((await intakeOn(db.a).acceptBatch([entry('d1', rep('fine', 'p1')), entry('d1', rep('invented', 'never-given'))])).map((o) => o.outcome)).toEqual(['stored', 'refused']);
    });

    it('two servers storing overlapping batches at once store each report once', async () => {
      const devices = ['d1', 'd2', 'd3', 'd4'];
      for (const d of devices) await new IssuedPlays(db.a).record(d, Array.from({ length: 60 }, (_, i) => play(`p${i}`, 5000)));
      const all = devices.flatMap((d) => Array.from({ length: 60 }, (_, i) => entry(d, rep(`${d}-${i}`, `p${i}`))));
      // Server A takes the first two thirds, server B the last two thirds, each in its own order;
      // a third server sends a rival report for some plays of the overlap.
      const first = all.slice(0, 160);
      const second = all.slice(80).reverse();
      const rivals = all.slice(100, 140).map((e) => entry(e.deviceId, rep(`${e.report.reportId}-rival`, e.report.playId)));
      const [x, y, z] = await Promise.all([intakeOn(db.a).acceptBatch(first), intakeOn(db.bTx).acceptBatch(second), intakeOn(db.bTx).acceptBatch(rivals)]);
      const stored = new Map<string, number>();
      const count = (list: ReportEntry[], outcomes: IntakeOutcome[]) => list.forEach((e, i) => outcomes[i]!.outcome === 'stored' && stored.set(e.report.reportId, (stored.get(e.report.reportId) ?? 0) + 1));
      count(first, x);
      count(second, y);
      count(rivals, z);
      expect([...stored.values()].every((n) => n === 1)).toBe(true);
      const rows = (await contents(db.b)).reports;
      // One row per play, each either the report or its rival, and 'stored' said exactly for those rows.
      expect(rows).toHaveLength(240);
      expect(new Set(rows.map((r) => `${r.device_id}/${r.play_id}`)).size).toBe(240);
      expect(rows.map((r) => r.report_id).sort()).toEqual([...stored.keys()].sort());
      // Every report not stored was answered resent (its row is there) or refused as taken (its rival's is).
      const other = [...x, ...y, ...z].filter((o) => o.outcome !== 'stored');
      expect(other.every((o) => o.outcome === 'resent' || (o.outcome === 'refused' && o.refusal === 'already-reported'))).toBe(true);
      expect(other.filter((o) => o.outcome === 'resent')).toHaveLength(first.length + second.length + rivals.length - 240 - other.filter((o) => o.outcome === 'refused').length);
    });

    it('the issued plays of a batch are found in one query, repeated keys and all', async () => {
      await seed(db.a);
      const issued = new IssuedPlays(db.b);
      expect(
        await issued.findMany([
          { deviceId: 'd1', playId: 'p1', contentId: 'c1' },
          { deviceId: 'd1', playId: 'p1', contentId: 'c2' },
          { deviceId: 'd2', playId: 'p1', contentId: 'c1' },
          { deviceId: 'd1', playId: 'other', contentId: 'c1' },
          { deviceId: 'd1', playId: 'p1', contentId: 'c1' },
          { deviceId: "d'3", playId: 'p"1', contentId: 'c1' },
        ]),
      ).toEqual([{ scheduleId: 's1', durationMs: 5000 }, null, { scheduleId: 's1', durationMs: 5000 }, { scheduleId: 's2', durationMs: 5000 }, { scheduleId: 's1', durationMs: 5000 }, null]);
      expect(await issued.findMany([])).toEqual([]);
    });

    it("a batch's transaction chosen as a deadlock's victim runs again", async () => {
      const reports = new ReportRepo(db.a, () => NOW);
      let runs = 0;
      const result = await reports.transaction(async (trx) => {
        runs++;
        await reports.insertMany([entry('d1', rep(`try-${runs}`, 'p1'))], trx);
        if (runs === 1) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        return runs;
      });
      expect(result).toBe(2);
      // The first run was rolled back: only the second one's row is there.
      expect((await contents(db.a)).reports.map((r) => r.report_id)).toEqual(['try-2']);
      await expect(reports.transaction(() => Promise.reject(Object.assign(new Error('no'), { code: '23505' })))).rejects.toThrow('no');
    });
  });
});

describe.each(databases())('play-failures alarms from a crowd of reports on $dialect', ({ dialect, skip }) => {
  let db: DatabasePair;
  let alarms: AlarmRepo;
  let rules: AlarmRules;
  let statements: string[];
  const changes: AlarmChange[] = [];
  beforeEach(async () => {
    if (skip) return;
    db = await openDatabasePair(dialect, 'batch');
    const areas = new AreaRepo(db.a, () => NOW);
    await areas.create({ name: 'Xã', parentId: null, id: 'x' });
    const devices = new DeviceRepo(db.a, areas, () => NOW);
    for (const id of ['d1', 'd2', 'd3']) await db.a.insertInto('devices').values({ id, name: id, area_id: 'x', secret_hash: 'h', created_at: new Date(NOW).toISOString() }).execute();
    alarms = new AlarmRepo(db.a);
    statements = [];
    const raise = alarms.raise.bind(alarms);
    const clearMany = alarms.clearMany.bind(alarms);
    alarms.raise = (...args) => (statements.push(`raise ${args[0]}`), raise(...args));
    alarms.clearMany = (kind, devs) => (statements.push(`clear ${[...devs.keys()].join(',')}`), clearMany(kind, devs));
    changes.length = 0;
    alarms.on('change', (c) => changes.push(c));
    rules = new AlarmRules({ alarms, devices, clock: new ManualClock(NOW), logger: silentLogger }, DEFAULT_ALARM_THRESHOLDS);
  });
  afterEach(async () => {
    if (!skip) await db.close();
  });
  const at = (s: number) => new Date(NOW + s * 1000).toISOString();
  const played = (status: 'completed' | 'failed', s: number) => rep(`r${s}`, `p${s}`, { status, endedAt: at(s), ...(status === 'failed' ? { reason: 'no audio', playedMs: 0 } : {}) });
  const history = async (deviceId: string) => (await alarms.query({ deviceIds: new Set([deviceId]) })).map((a) => [a.raisedAt, a.clearedAt]).reverse();

  it.skipIf(skip)('clearMany clears the active alarms of one kind for the devices given, each at its instant, once', async () => {
    await alarms.raise('d1', 'play-failures', 'x', NOW);
    await alarms.raise('d2', 'play-failures', 'x', NOW);
    await alarms.raise('d2', 'offline', 'x', NOW);
    const cleared = await alarms.clearMany('play-failures', new Map([['d1', NOW + 1000], ['d2', NOW + 2000], ['d3', NOW + 3000]]));
    expect(cleared.map((a) => [a.deviceId, a.clearedAt]).sort()).toEqual([['d1', at(1)], ['d2', at(2)]]);
    expect(changes.filter((c) => c.type === 'cleared').map((c) => c.alarm.deviceId).sort()).toEqual(['d1', 'd2']);
    expect(await alarms.isActive('d2', 'offline')).toBe(true);
    expect(await alarms.clearMany('play-failures', new Map([['d1', NOW]]))).toEqual([]);
    expect(await alarms.clearMany('play-failures', new Map())).toEqual([]);
  });

  it.skipIf(skip)('the reports of one turn clear with one statement, and keep the order of clears and raises per device', async () => {
    for (const s of [1, 2, 3]) await rules.onReport('d1', played('failed', s));
    await rules.onReport('d2', played('failed', 4));
    expect(statements).toEqual(['raise d1']);
    statements.length = 0;
    // As a committed batch hands them over: all in one turn, nothing awaited in between.
    await Promise.all([
      rules.onReport('d1', played('completed', 10)),
      rules.onReport('d2', played('completed', 11)),
      rules.onReport('d3', played('completed', 12)),
      rules.onReport('d1', played('completed', 13)), // nothing left to clear: d1 keeps 10
      rules.onReport('d1', played('failed', 14)),
      rules.onReport('d1', played('failed', 15)),
      rules.onReport('d1', played('failed', 16)), // raises again…
      rules.onReport('d1', played('completed', 17)), // …and this clears that one
    ]);
    expect(statements).toEqual(['clear d1,d2,d3', 'raise d1', 'clear d1']);
    expect(await history('d1')).toEqual([
      [at(3), at(10)],
      [at(16), at(17)],
    ]);
    expect(await alarms.query({ active: true })).toEqual([]);
  });
});

describe('ReportBatcher', () => {
  let clock: ManualClock;
  let batches: ReportEntry[][];
  /** How the fake intake answers: by default each report 'resent', or a failure. */
  let answer: (entries: ReportEntry[]) => Promise<IntakeOutcome[]>;
  const release: (() => void)[] = [];
  beforeEach(() => {
    clock = new ManualClock(NOW);
    batches = [];
    release.length = 0;
    answer = async (entries) => entries.map((e) => (e.report.reportId.startsWith('new') ? { outcome: 'stored', alert: false } : { outcome: 'resent' }));
  });
  const batcher = (o: { windowMs?: number; maxReports?: number; inFlight?: number } = {}) =>
    new ReportBatcher(
      (entries) => {
        batches.push(entries);
        return answer(entries);
      },
      clock,
      { windowMs: 3, maxReports: 4, inFlight: 1, ...o },
    );
  const settle = () => new Promise((r) => setImmediate(r));

  it('collects the reports of one window into one batch, and settles each with its own outcome', async () => {
    const b = batcher();
    const a1 = b.accept('d1', rep('new-1', 'p1'));
    clock.advance(2);
    const a2 = b.accept('d2', rep('old-1', 'p1'));
    await settle();
    expect(batches).toHaveLength(0);
    clock.advance(1); // 3 ms after the first report
    await expect(Promise.all([a1, a2])).resolves.toEqual([{ outcome: 'stored', alert: false }, { outcome: 'resent' }]);
    expect(batches.map((x) => x.map((e) => `${e.deviceId}:${e.report.reportId}`))).toEqual([['d1:new-1', 'd2:old-1']]);
    expect(b.stats()).toEqual({ batches: 1, reports: 2, largest: 2, failed: 0 });
  });

  it('sends a full batch at once, without waiting for the window', async () => {
    const b = batcher();
    const all = Promise.all(Array.from({ length: 5 }, (_, i) => b.accept('d1', rep(`new-${i}`, `p${i}`))));
    await settle();
    expect(batches.map((x) => x.length)).toEqual([4]);
    clock.advance(3);
    await all;
    expect(batches.map((x) => x.length)).toEqual([4, 1]);
  });

  it('while a batch is being stored, the next one fills; it goes when the slot frees, its window over', async () => {
    answer = (entries) => new Promise((resolve) => release.push(() => resolve(entries.map(() => ({ outcome: 'resent' })))));
    const b = batcher({ maxReports: 3 });
    const first = b.accept('d1', rep('r1', 'p1'));
    clock.advance(3);
    await settle();
    expect(batches.map((x) => x.length)).toEqual([1]);
    const later = Array.from({ length: 5 }, (_, i) => b.accept('d1', rep(`r${i + 2}`, `p${i + 2}`)));
    clock.advance(10);
    await settle();
    expect(batches.map((x) => x.length)).toEqual([1]); // one in flight at a time
    expect(b.pending).toEqual({ reports: 5, batches: 1 });
    release.shift()!();
    await first;
    await settle();
    expect(batches.map((x) => x.length)).toEqual([1, 3]);
    release.shift()!();
    await settle();
    expect(batches.map((x) => x.length)).toEqual([1, 3, 2]);
    release.shift()!();
    await Promise.all(later);
  });

  it('with more slots, batches overlap', async () => {
    answer = (entries) => new Promise((resolve) => release.push(() => resolve(entries.map(() => ({ outcome: 'resent' })))));
    const b = batcher({ maxReports: 2, inFlight: 2 });
    const all = Array.from({ length: 6 }, (_, i) => b.accept('d1', rep(`r${i}`, `p${i}`)));
    await settle();
    expect(batches.map((x) => x.length)).toEqual([2, 2]);
    release.splice(0).forEach((r) => r());
    await settle();
    await settle();
    expect(batches.map((x) => x.length)).toEqual([2, 2, 2]);
    release.splice(0).forEach((r) => r());
    await Promise.all(all);
  });

  it('a failed batch rejects each of its reports (no ack) and the next batch goes on', async () => {
    answer = () => Promise.reject(new Error('database away'));
    const b = batcher();
    const failed = [b.accept('d1', rep('r1', 'p1')), b.accept('d2', rep('r2', 'p1'))];
    clock.advance(3);
    for (const f of failed) await expect(f).rejects.toThrow('database away');
    answer = async (entries) => entries.map(() => ({ outcome: 'resent' }));
    const next = b.accept('d1', rep('r1', 'p1'));
    clock.advance(3);
    await expect(next).resolves.toEqual({ outcome: 'resent' });
    expect(b.stats()).toMatchObject({ batches: 2, failed: 1 });
  });

  it('an intake answering the wrong number of outcomes fails the batch rather than mis-ack', async () => {
    answer = async () => [{ outcome: 'resent' }];
    const b = batcher();
    const both = [b.accept('d1', rep('r1', 'p1')), b.accept('d1', rep('r2', 'p2'))];
    clock.advance(3);
    for (const p of both) await expect(p).rejects.toThrow('1 outcomes for 2 reports');
  });

  it('drain sends what waits at once and resolves when nothing is being stored', async () => {
    const b = batcher({ windowMs: 1000 });
    const waiting = b.accept('d1', rep('new-1', 'p1'));
    await b.drain();
    await expect(waiting).resolves.toEqual({ outcome: 'stored', alert: false });
    expect(b.pending).toEqual({ reports: 0, batches: 0 });
    expect(clock.pending).toBe(0);
  });
});
