/**
 * Issue 21 item 2: the table of bulletins on SQLite and PostgreSQL, seen by two servers at once
 * (two pools on PostgreSQL, two connections on SQLite): of two claims of one (caller, upstream
 * id) one wins, the other gets null; a state moves only from the state it was read in, so two
 * nodes never both move one bulletin; a failed one is claimed again by one delivery only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { databases } from '@loalang/test-kit';
import { openDatabasePair, type DatabasePair } from './database-pair.js';
import { AreaRepo } from '../src/areas/areas.js';
import { UserRepo } from '../src/accounts/users.js';
import { BulletinRepo, type NewBulletin } from '../src/bulletins/repo.js';

const NOW = Date.parse('2026-11-30T01:00:00.000Z');

describe.each(databases())('bulletins table on $dialect', ({ dialect, skip }) => {
  let db: DatabasePair;
  let a: BulletinRepo;
  let b: BulletinRepo;
  let fields: NewBulletin;
  beforeEach(async () => {
    if (skip) return;
    db = await openDatabasePair(dialect, 'bulletins');
    await new AreaRepo(db.a, () => NOW).create({ name: 'Tỉnh', parentId: null, id: 'p', geocodes: ['01'] });
    const user = await new UserRepo(db.a, () => NOW).create({ username: 'htttn', password: 'mat-khau-thu-nghiem', role: 'operator', areaId: 'p' });
    a = new BulletinRepo(db.a, () => NOW);
    b = new BulletinRepo(db.b, () => NOW);
    fields = { sourceId: user.id, upstreamId: 'HTTTN-1', requestHash: 'h1', title: 'Tin', priority: 'normal', validFrom: new Date(NOW).toISOString(), validUntil: null, areaIds: ['p'], unmatchedCodes: ['99'] };
  });
  afterEach(async () => {
    if (!skip) await db.close();
  });

  it.skipIf(skip)('gives a (caller, upstream id) to one of two claims made at once', async () => {
    const [x, y] = await Promise.all([a.claim(fields), b.claim(fields)]);
    expect([x, y].filter((r) => r !== null)).toHaveLength(1);
    const won = (x ?? y)!;
    expect(won).toMatchObject({ upstreamId: 'HTTTN-1', state: 'receiving', areaIds: ['p'], unmatchedCodes: ['99'], counts: null });
    expect(await a.byUpstream(fields.sourceId, 'HTTTN-1')).toEqual({ bulletin: won, hash: 'h1' });
    // Another upstream id of the same caller is another bulletin.
    expect(await b.claim({ ...fields, upstreamId: 'HTTTN-2' })).not.toBeNull();
  });

  it.skipIf(skip)('moves a bulletin only from the state it was read in; a failed one is claimed again once', async () => {
    const made = (await a.claim(fields))!;
    const [x, y] = await Promise.all([a.move(made.id, 'receiving', { state: 'scheduled', scheduleId: 's1' }), b.move(made.id, 'receiving', { state: 'failed', reason: 'r' })]);
    expect([x, y].filter((r) => r !== null)).toHaveLength(1);
    const failed = (await a.move(made.id, (x ?? y)!.state, { state: 'failed', reason: 'Lỗi / Error' }))!;
    expect(failed).toMatchObject({ state: 'failed', reason: 'Lỗi / Error' });
    const again = await Promise.all([a.reclaim(made.id, { ...fields, requestHash: 'h2' }), b.reclaim(made.id, { ...fields, requestHash: 'h2' })]);
    expect(again.filter((r) => r !== null)).toHaveLength(1);
    expect(await a.byUpstream(fields.sourceId, 'HTTTN-1')).toMatchObject({ hash: 'h2', bulletin: { id: made.id, state: 'receiving', reason: null, scheduleId: null } });
    const played = await a.move(made.id, 'receiving', { state: 'played', counts: { targeted: 3, played: 2, failed: 0, noReport: 1 } });
    expect(played?.counts).toEqual({ targeted: 3, played: 2, failed: 0, noReport: 1 });
    expect((await a.open()).map((o) => o.id)).toEqual([]);
    expect((await b.list({ state: 'played', limit: 10 })).map((o) => o.id)).toEqual([made.id]);
  });
});
