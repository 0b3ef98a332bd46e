/**
 * Issue 16: play reports, issued plays, stream sources, signing keys and the downlink sequence
 * on SQLite and PostgreSQL, with two servers sharing one database. Each "server" here is its
 * own connection (SQLite) or pool (PostgreSQL) on the same database.
 * What races on which dialect: database-pair.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DesiredPlay, PlayReport } from '@loalang/protocol';
import { databases } from '@loalang/test-kit';
import { openDatabasePair, type DatabasePair } from './database-pair.js';
import { ReportRepo } from '../src/reports/reports.js';
import { IssuedPlays } from '../src/reports/issued-plays.js';
import { StreamSourceRepo } from '../src/content/stream-sources.js';
import { SigningKeys } from '../src/signing/keys.js';
import { DownlinkSequence } from '../src/signing/signer.js';

const report: PlayReport = { v: 1, reportId: 'r1', playId: 'p1', scheduleId: 's1', contentId: 'c1', status: 'completed', scheduledAt: '2026-11-22T06:00:00.000Z', startedAt: '2026-11-22T06:00:00.001Z', endedAt: '2026-11-22T06:00:05.000Z', playedMs: 4999 };
const play = (playId: string, durationMs: number, startAt = '2026-11-22T06:00:00.000Z'): DesiredPlay =>
  ({ playId, scheduleId: 's1', contentId: 'c1', sha256: 'a'.repeat(64), url: 'u', durationMs, startAt, priority: 'normal' }) as DesiredPlay;

describe.each(databases())('on $dialect', ({ dialect, skip }) => {
  let db: DatabasePair;
  let now: number;
  const clock = () => now;
  beforeEach(async () => {
    now = Date.parse('2026-11-28T10:00:00.000Z');
    if (!skip) db = await openDatabasePair(dialect, 'reports');
  });
  afterEach(async () => {
    if (!skip) await db.close();
  });

  describe.skipIf(skip)('play reports', () => {
    it('two servers ingesting the same report at once store it once: one stored, one resent', async () => {
      const [x, y] = await Promise.all([new ReportRepo(db.a, clock).insert('d1', report), new ReportRepo(db.b, clock).insert('d1', report)]);
      expect([x, y].sort()).toEqual(['resent', 'stored']);
      expect(await new ReportRepo(db.a).query({})).toHaveLength(1);
    });

    it('two reports of one play at once: the first stands, the other is taken', async () => {
      const [x, y] = await Promise.all([
        new ReportRepo(db.a, clock).insert('d1', { ...report, reportId: 'first' }),
        new ReportRepo(db.b, clock).insert('d1', { ...report, reportId: 'second', playedMs: 99_999_999 }),
      ]);
      expect([x, y].sort()).toEqual(['stored', 'taken']);
      expect((await new ReportRepo(db.b).query({})).map((r) => r.playedMs)).toEqual([x === 'stored' ? 4999 : 99_999_999]);
    });

    it('a refused report is kept once however many servers refuse it, and counted', async () => {
      const results = await Promise.all([db.a, db.b, db.a, db.b].map((d) => new ReportRepo(d, clock).refuse('d1', { ...report, reportId: 'bad' }, 'too-long')));
      expect(results.filter(Boolean)).toHaveLength(1);
      await new ReportRepo(db.a, clock).refuse('d1', { ...report, reportId: 'odd' }, 'inconsistent');
      expect(await new ReportRepo(db.b).refusedCounts()).toEqual({ 'unknown-play': 0, 'wrong-schedule': 0, 'too-long': 1, inconsistent: 1, 'already-reported': 0 });
    });

    it('are counted by outcome and listed newest first, filtered by time and device, the limit counting the caller\'s rows', async () => {
      const reports = new ReportRepo(db.a, clock);
      await reports.insert('d1', report);
      await reports.insert('d1', { ...report, reportId: 'r1b', playId: 'p1b', status: 'failed', reason: 'no audio', ampError: 'link lost' });
      await reports.insert('d2', { ...report, reportId: 'r2', playId: 'p2', scheduledAt: '2026-11-23T06:00:00.000Z' });
      expect(await reports.countsByStatus()).toEqual({ completed: 2, failed: 1 });
      expect((await reports.query({})).map((r) => r.reportId)).toEqual(['r2', 'r1', 'r1b']);
      expect((await reports.query({ from: '2026-11-23T00:00:00.000Z' })).map((r) => r.reportId)).toEqual(['r2']);
      expect((await reports.query({ to: '2026-11-23T00:00:00.000Z' })).map((r) => r.reportId)).toEqual(['r1', 'r1b']);
      expect((await reports.query({ deviceIds: new Set(['d1']), limit: 1 })).map((r) => r.reportId)).toEqual(['r1']);
      expect(await reports.query({ deviceIds: new Set() })).toEqual([]);
      const failed = (await reports.query({ deviceIds: new Set(['d1']) })).find((r) => r.reportId === 'r1b');
      expect(failed).toEqual({ reportId: 'r1b', deviceId: 'd1', playId: 'p1b', scheduleId: 's1', contentId: 'c1', status: 'failed', reason: 'no audio', scheduledAt: report.scheduledAt, startedAt: report.startedAt, endedAt: report.endedAt, playedMs: 4999, ampError: 'link lost', receivedAt: '2026-11-28T10:00:00.000Z' });
    });
  });

  describe.skipIf(skip)('issued plays', () => {
    it('keep the longest length of a play given more than once, also by two servers at once and twice in one state', async () => {
      await Promise.all([new IssuedPlays(db.a).record('d1', [play('p1', 5000), play('p1', 7000)]), new IssuedPlays(db.b).record('d1', [play('p1', 6000), play('p2', 1000)])]);
      await new IssuedPlays(db.b).record('d1', [play('p1', 4000)]);
      const issued = new IssuedPlays(db.a);
      expect(await issued.find('d1', 'p1', 'c1')).toEqual({ scheduleId: 's1', durationMs: 7000 });
      expect(await issued.find('d1', 'p2', 'c1')).toEqual({ scheduleId: 's1', durationMs: 1000 });
      expect(await issued.find('d2', 'p1', 'c1')).toBeNull();
      expect(await issued.find('d1', 'p1', 'other')).toBeNull();
    });

    it('record a large state in one go, join a caller\'s transaction, and prune what started long ago', async () => {
      const issued = new IssuedPlays(db.a);
      await issued.record('d1', Array.from({ length: 1234 }, (_, i) => play(`p${i}`, 1000 + i, i < 1000 ? '2026-01-01T00:00:00.000Z' : '2026-11-22T06:00:00.000Z')));
      expect(await issued.find('d1', 'p1233', 'c1')).toEqual({ scheduleId: 's1', durationMs: 2233 });
      // Undone with the transaction it was recorded in.
      await expect(
        db.a.transaction().execute(async (trx) => {
          await issued.record('d9', [play('x', 1)], trx);
          expect(await issued.find('d9', 'x', 'c1', trx)).not.toBeNull();
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await issued.find('d9', 'x', 'c1')).toBeNull();
      expect(await issued.prune(Date.parse('2026-06-01T00:00:00.000Z'))).toBe(1000);
      expect(await issued.find('d1', 'p0', 'c1')).toBeNull();
      expect(await issued.find('d1', 'p1000', 'c1')).not.toBeNull();
    });
  });

  describe.skipIf(skip)('stream sources', () => {
    it('are listed by name, found by id, and deleted', async () => {
      await db.a.insertInto('areas').values({ id: 'a', name: 'Xã', parent_id: null, timezone: null, created_at: '2026-11-28T00:00:00.000Z', quiet_hours_json: null, schedule_approval: null, geocodes_json: null }).execute();
      const sources = new StreamSourceRepo(db.a, clock);
      const vov = await sources.create({ name: 'VOV1', url: 'https://stream.example.vn/vov1', areaId: 'a', createdBy: null });
      const tinh = await sources.create({ name: 'Đài tỉnh', url: 'https://stream.example.vn/tinh', areaId: 'a', createdBy: 'u1' });
      expect((await new StreamSourceRepo(db.b, clock).list()).map((s) => s.name)).toEqual(['VOV1', 'Đài tỉnh']);
      expect(await sources.require(tinh.id)).toEqual({ id: tinh.id, name: 'Đài tỉnh', url: 'https://stream.example.vn/tinh', areaId: 'a', createdBy: 'u1', createdAt: '2026-11-28T10:00:00.000Z' });
      await sources.delete(vov.id);
      await expect(sources.require(vov.id)).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
    });
  });

  describe.skipIf(skip)('the downlink sequence', () => {
    it('never gives one number to two servers, reserving each next block before the current one runs out', async () => {
      const [x, y] = await Promise.all([DownlinkSequence.open(db.a, clock, { block: 10 }), DownlinkSequence.open(db.b, clock, { block: 10 })]);
      const seen = new Set<number>();
      const last = { x: 0, y: 0 };
      for (let i = 0; i < 200; i++) {
        const nx = x.next();
        const ny = y.next();
        // Each server's numbers only grow, above the clock in microseconds.
        expect(nx).toBeGreaterThan(last.x);
        expect(ny).toBeGreaterThan(last.y);
        last.x = nx;
        last.y = ny;
        seen.add(nx).add(ny);
        // The next block is reserved in the background while numbers are handed out, from half a
        // block before the end (5 here): letting it land every 3 numbers means it is always in time.
        if (i % 3 === 2) await Promise.all([x.settled(), y.settled()]);
      }
      expect(seen.size).toBe(400);
      expect(Math.min(...seen)).toBeGreaterThan(now * 1000);
      await Promise.all([x.settled(), y.settled()]);
      // A restart, even with the clock stepped back, continues above every number handed out.
      now -= 3600_000;
      const restarted = await DownlinkSequence.open(db.b, clock, { block: 10 });
      expect(restarted.next()).toBeGreaterThan(Math.max(...seen));
    });

    it('throws rather than hand out a number no one reserved, and goes on once the reservation is in', async () => {
      const seq = await DownlinkSequence.open(db.a, clock, { block: 4 });
      const first = [seq.next(), seq.next(), seq.next(), seq.next()];
      expect(() => seq.next()).toThrow(/no downlink sequence numbers reserved/);
      await seq.settled();
      expect(seq.next()).toBe(first[3]! + 1);
    });
  });

  describe.skipIf(skip)('signing keys', () => {
    it('two servers starting on an empty database make one active key and both sign with it', async () => {
      const [x, y] = await Promise.all([new SigningKeys(db.a, clock).active(), new SigningKeys(db.b, clock).active()]);
      expect([x.created, y.created].filter(Boolean)).toHaveLength(1);
      expect(x.key.kid).toBe(y.key.kid);
      expect(x.privateKeyPem).toBe(y.privateKeyPem);
      expect(await new SigningKeys(db.a, clock).list()).toHaveLength(1);
    });

    it('rotate: one next key at a time, activated by one server only, the old key retired without its private half', async () => {
      const a = new SigningKeys(db.a, clock);
      const b = new SigningKeys(db.bTx, clock);
      const changes: string[] = [];
      a.onChange = async () => {
        await Promise.resolve();
        changes.push('a');
      };
      b.onChange = () => void changes.push('b');
      const old = (await a.active()).key;
      await b.list(); // both connected, so that neither is done before the other starts
      // Two servers adding the next key at once, twice each: one gets it.
      const added = await Promise.allSettled([a.addNext(), b.addNext(), a.addNext(), b.addNext()]);
      expect(added.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(added.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'LOA_ERR_CONFLICT' } });
      const next = (await a.list()).find((k) => k.state === 'next')!;
      expect(await b.trusted()).toEqual([
        { kid: old.kid, publicKey: old.publicKey },
        { kid: next.kid, publicKey: next.publicKey },
      ]);
      await expect(b.retire(old.kid)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT' });

      // Two servers activating it at once, twice each: one does, the others are told it is active already.
      now += 1000;
      const activated = await Promise.allSettled([a.activate(next.kid), b.activate(next.kid), a.activate(next.kid), b.activate(next.kid)]);
      expect(activated.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(activated.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'LOA_ERR_CONFLICT', message: expect.stringContaining('this one is active') } });
      expect(await a.get(next.kid)).toMatchObject({ state: 'active', activatedAt: '2026-11-28T10:00:01.000Z' });
      expect(await a.get(old.kid)).toMatchObject({ state: 'retired', retiredAt: '2026-11-28T10:00:01.000Z' });
      expect((await db.a.selectFrom('signing_keys').select('private_key_pem').where('kid', '=', old.kid).executeTakeFirstOrThrow()).private_key_pem).toBeNull();
      expect((await a.active()).key.kid).toBe(next.kid);
      await expect(a.activate(old.kid)).rejects.toMatchObject({ code: 'LOA_ERR_CONFLICT', message: expect.stringContaining('this one is retired') });
      await expect(a.activate('nope')).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
      // The failed activations undid their retirement of the active key.
      expect((await a.list()).filter((k) => k.state === 'active').map((k) => k.kid)).toEqual([next.kid]);

      // A next key dropped: retired, and retiring it again changes nothing.
      const spare = await b.addNext();
      expect(await a.retire(spare.kid)).toMatchObject({ state: 'retired' });
      expect(await a.retire(spare.kid)).toMatchObject({ state: 'retired' });
      expect(await a.trusted()).toEqual([{ kid: next.kid, publicKey: next.publicKey }]);
      await expect(a.get('nope')).rejects.toMatchObject({ code: 'LOA_ERR_NOT_FOUND' });
      // Awaited by each change that happened: the next key twice, one activation, one retirement.
      expect(changes).toHaveLength(4);
    });
  });
});
