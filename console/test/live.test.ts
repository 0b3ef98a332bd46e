/**
 * Live announcements through the API (issue 18): who may prepare one where, the one-time ticket
 * of the feed socket, what the socket says, reports of the session's plays checked against its
 * areas, the recording kept in the library, and the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpusScript from 'opusscript';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { livePlayId, type PlayReport } from '@loalang/protocol';
import { ManualClock } from '@loalang/test-kit';
import { addUser, buildTestServer, login, type TestServer } from './helpers.js';

let t: TestServer;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  t = await buildTestServer();
  await t.core.areas.create({ name: 'Tỉnh', parentId: null, id: 'p' });
  await t.core.areas.create({ name: 'Xã A', parentId: 'p', id: 'a' });
  await t.core.areas.create({ name: 'Thôn A1', parentId: 'a', id: 'a1' });
  await t.core.areas.create({ name: 'Xã B', parentId: 'p', id: 'b' });
  for (const [name, role, area] of [['op-a', 'operator', 'a'], ['staff-p', 'alert-staff', 'p'], ['tech-a', 'technician', 'a'], ['viewer-a', 'viewer', 'a'], ['admin-p', 'admin', 'p']] as const) {
    await addUser(t.core, name, role, area);
    tokens[name] = await login(t.app, name);
  }
});
afterAll(async () => t?.close());

const call = (who: string, method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${tokens[who]}` }, ...(payload ? { payload } : {}) });

interface Prepared { session: { id: string; areaIds: string[]; priority: string }; ticket: string; speakers: number; feedPath: string }
type Event = { type: string; session?: { id: string; endReason: string | null; lastIndex: number }; error?: { code: string; messageVi: string } };

/** The feed socket over a real connection (fastify's injectWS does not pass a client's close on); its JSON messages collected. */
async function feed(path: string, app: TestServer['app'] = t.app): Promise<{ ws: WebSocket; events: Event[]; closed: Promise<number> }> {
  if (!app.server.listening) await app.listen({ port: 0, host: '127.0.0.1' });
  const ws = new WebSocket(`ws://127.0.0.1:${(app.server.address() as AddressInfo).port}${path}`);
  const events: Event[] = [];
  ws.on('message', (data) => events.push(JSON.parse(data.toString()) as Event));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, events, closed };
}

/** One second of a 440 Hz tone as 50 Opus frames, each with its index in front (the feed's format). */
function toneMessages(): Buffer[] {
  const opus = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  const out: Buffer[] = [];
  for (let f = 0; f < 50; f++) {
    const pcm = Buffer.alloc(1920);
    for (let k = 0; k < 960; k++) pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (f * 960 + k)) / 48000)), k * 2);
    const packet = Buffer.from(opus.encode(pcm, 960));
    const message = Buffer.alloc(4 + packet.length);
    message.writeUInt32BE(f, 0);
    packet.copy(message, 4);
    out.push(message);
  }
  opus.delete();
  return out;
}

const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('live announcements through the API', () => {
  it('lets an operator speak in their areas and alert staff in an emergency; nobody else, nowhere else', async () => {
    await t.core.devices.create({ name: 'Loa A1', areaId: 'a1' });
    await t.core.devices.create({ name: 'Loa B', areaId: 'b' });
    const ok = await call('op-a', 'POST', '/live', { areaIds: ['a'], title: 'Họp thôn' });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ session: { areaIds: ['a'], priority: 'priority' }, speakers: 1 });
    expect((ok.json() as Prepared).feedPath).toBe(`/api/v1/live/${(ok.json() as Prepared).session.id}/feed`);

    const refused = [
      [await call('op-a', 'POST', '/live', { areaIds: ['b'] }), 403],
      [await call('op-a', 'POST', '/live', { areaIds: ['a'], priority: 'emergency' }), 403],
      [await call('staff-p', 'POST', '/live', { areaIds: ['a'] }), 403],
      [await call('tech-a', 'POST', '/live', { areaIds: ['a'] }), 403],
      [await call('viewer-a', 'POST', '/live', { areaIds: ['a'] }), 403],
      [await call('op-a', 'POST', '/live', { areaIds: ['nowhere'] }), 404],
      [await call('op-a', 'POST', '/live', { areaIds: [] }), 400],
    ] as const;
    expect(refused.map(([r]) => r.statusCode)).toEqual(refused.map(([, s]) => s));
    expect(refused[1][0].json()).toMatchObject({ error: { code: 'LOA_ERR_FORBIDDEN', messageVi: expect.stringContaining('phát trực tiếp') } });

    const emergency = await call('staff-p', 'POST', '/live', { areaIds: ['p'], priority: 'emergency' });
    expect(emergency.statusCode).toBe(201);
    expect(emergency.json()).toMatchObject({ session: { priority: 'emergency' }, speakers: 2 });
  });

  it('keeps quiet hours: a priority announcement into a quiet area is refused with the reason; an emergency is not', async () => {
    await t.core.devices.create({ name: 'Loa thôn A1', areaId: 'a1' });
    // Quiet from an hour ago to an hour from now, in the area's time, on the hamlet below commune A.
    const hhmm = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Ho_Chi_Minh', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
    await t.core.areas.update('a1', { quietHours: { from: hhmm(Date.now() - 3600_000), to: hhmm(Date.now() + 3600_000) } });
    try {
      const refused = await call('op-a', 'POST', '/live', { areaIds: ['a'] });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({ error: { code: 'LOA_ERR_QUIET_HOURS', messageVi: expect.stringContaining('Thôn A1 đang trong giờ yên tĩnh'), details: { areaId: 'a1' } } });
      expect((await call('staff-p', 'POST', '/live', { areaIds: ['a'], priority: 'emergency' })).statusCode).toBe(201);
      // Commune B is not quiet.
      expect((await call('admin-p', 'POST', '/live', { areaIds: ['b'] })).statusCode).toBe(201);
    } finally {
      await t.core.areas.update('a1', { quietHours: null });
    }
  });

  it('feeds a session once per ticket: a wrong, used or expired ticket is refused, with the reason', async () => {
    const prepared = (await call('op-a', 'POST', '/live', { areaIds: ['a'] })).json() as Prepared;
    const wrong = await feed(`${prepared.feedPath}?ticket=${'x'.repeat(32)}`);
    expect(await wrong.closed).toBe(1008);
    expect(wrong.events[0]).toMatchObject({ type: 'error', error: { code: 'LOA_ERR_FORBIDDEN', messageVi: expect.stringContaining('vé') } });

    const first = await feed(`${prepared.feedPath}?ticket=${prepared.ticket}`);
    await until('open', () => first.events.length > 0);
    expect(first.events[0]).toMatchObject({ type: 'open', session: { id: prepared.session.id } });
    const second = await feed(`${prepared.feedPath}?ticket=${prepared.ticket}`);
    expect(await second.closed).toBe(1008);
    // Closing the socket ends the session: nobody can feed it any more.
    first.ws.close();
    await until('ended by its source going', () => t.core.liveAnnouncements.get(prepared.session.id) === null);
    await t.core.liveDesk.settled();
    expect((await t.core.liveDesk.detail((await t.core.users.callerBySessionToken(tokens['op-a']!))!, prepared.session.id)).session).toMatchObject({ endReason: 'source-gone' });

    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const other = await buildTestServer({ clock });
    try {
      await other.core.areas.create({ name: 'Xã', parentId: null, id: 'x' });
      await addUser(other.core, 'op-x', 'operator', 'x');
      const token = await login(other.app, 'op-x');
      const late = (await other.app.inject({ method: 'POST', url: '/api/v1/live', headers: { authorization: `Bearer ${token}` }, payload: { areaIds: ['x'] } })).json() as Prepared;
      clock.advance(61_000);
      const expired = await feed(`${late.feedPath}?ticket=${late.ticket}`, other.app);
      expect(await expired.closed).toBe(1008);
      expect(expired.events[0]).toMatchObject({ type: 'error', error: { code: 'LOA_ERR_FORBIDDEN' } });
    } finally {
      await other.close();
    }
  });

  it('plays what its source sends, ends on request, keeps the recording, and takes reports only from speakers of its areas', async () => {
    const inA = await t.core.devices.create({ name: 'Loa thôn A1', areaId: 'a1' });
    const inB = await t.core.devices.create({ name: 'Loa xã B', areaId: 'b' });
    const prepared = (await call('op-a', 'POST', '/live', { areaIds: ['a'], title: 'Thông báo họp' })).json() as Prepared;
    const source = await feed(`${prepared.feedPath}?ticket=${prepared.ticket}`);
    await until('open', () => source.events.length > 0);
    for (const message of toneMessages()) {
      source.ws.send(message);
      await new Promise((r) => setTimeout(r, 20));
    }
    source.ws.send(Buffer.from([1, 2])); // too short to be a frame: said so, nothing else
    await until('the bad frame answered', () => source.events.some((e) => e.type === 'error'));
    expect(source.events.find((e) => e.type === 'error')).toMatchObject({ error: { code: 'LOA_ERR_INVALID', messageVi: expect.stringContaining('Opus') } });
    source.ws.send(JSON.stringify({ type: 'end' }));
    expect(await source.closed).toBe(1000);
    expect(source.events.at(-1)).toMatchObject({ type: 'ended', session: { endReason: 'ended', lastIndex: 49 } });
    const recorded = await new Promise<unknown>((resolve) => t.core.liveDesk.once('recorded', (_id, outcome) => resolve(outcome)));
    expect(recorded).toEqual({ contentId: prepared.session.id });
    const item = await t.core.content.require(prepared.session.id);
    expect(item).toMatchObject({ kind: 'live', title: 'Thông báo họp', areaId: 'a' });
    expect(Math.abs(item.durationMs - 1000)).toBeLessThan(200);
    // The library lists it with uploads and bulletins.
    const library = (await call('op-a', 'GET', '/content')).json() as { id: string }[];
    expect(library.map((c) => c.id)).toContain(prepared.session.id);

    const record = (await call('op-a', 'GET', `/live/${prepared.session.id}`)).json() as { session: { startedAt: string; endedAt: string } };
    const report = (over: Partial<PlayReport> = {}): PlayReport => ({
      v: 1, reportId: crypto.randomUUID(), playId: livePlayId(prepared.session.id), scheduleId: prepared.session.id, contentId: prepared.session.id,
      status: 'completed', scheduledAt: record.session.startedAt, startedAt: record.session.startedAt, endedAt: record.session.endedAt, playedMs: 900, ...over,
    });
    await t.core.ingestReport(inA.device.id, report());
    await t.core.ingestReport(inB.device.id, report());
    await t.core.ingestReport(inA.device.id, report({ playId: livePlayId(prepared.session.id, 2), contentId: 'something-else' }));
    await t.core.ingestReport(inA.device.id, report({ playId: livePlayId(prepared.session.id, 3), playedMs: 60_000 }));
    const refusals = await t.core.reports.refusedCounts();
    expect(refusals).toMatchObject({ 'unknown-play': 2, 'too-long': 1 });
    const detail = (await call('op-a', 'GET', `/live/${prepared.session.id}`)).json() as { outcomes: { deviceId: string; playedMs: number; statuses: string[] }[] };
    expect(detail.outcomes).toEqual([expect.objectContaining({ deviceId: inA.device.id, playedMs: 900, statuses: ['completed'] })]);
  });

  it('keeps the frames a source sends before the server answered its ticket', async () => {
    const prepared = (await call('op-a', 'POST', '/live', { areaIds: ['a'] })).json() as Prepared;
    const source = await feed(`${prepared.feedPath}?ticket=${prepared.ticket}`);
    // At once, without waiting for "open": the server is still checking the ticket.
    for (const message of toneMessages().slice(0, 5)) source.ws.send(message);
    source.ws.send(JSON.stringify({ type: 'end' }));
    expect(await source.closed).toBe(1000);
    expect(source.events.at(-1)).toMatchObject({ type: 'ended', session: { lastIndex: 4, frames: { placed: 5 } } });
  });

  it('ends a session from the API and writes who spoke where in the audit log, without the ticket', async () => {
    const prepared = (await call('op-a', 'POST', '/live', { areaIds: ['a'] })).json() as Prepared;
    const source = await feed(`${prepared.feedPath}?ticket=${prepared.ticket}`);
    await until('open', () => source.events.length > 0);
    expect((await call('viewer-a', 'POST', `/live/${prepared.session.id}/end`)).statusCode).toBe(403);
    const ended = await call('admin-p', 'POST', `/live/${prepared.session.id}/end`);
    expect(ended.json()).toEqual({ endedHere: true });
    expect(await source.closed).toBe(1000);
    const entries = (await call('admin-p', 'GET', '/audit?limit=50')).json() as { action: string; target: string | null; userId: string | null; detail: unknown }[];
    const mine = entries.filter((e) => e.target === prepared.session.id || (e.action === 'POST /api/v1/live' && JSON.stringify(e.detail).includes('"a"')));
    expect(mine.map((e) => e.action)).toEqual(expect.arrayContaining(['WS /api/v1/live/:id/feed', 'POST /api/v1/live/:id/end', 'POST /api/v1/live']));
    expect(JSON.stringify(entries)).not.toContain(prepared.ticket);
  });
});
