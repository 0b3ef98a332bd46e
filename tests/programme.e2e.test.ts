/**
 * The scheduling issue's "done when", as an operator would try it: a weekly programme with a
 * relay of the provincial station and a three-times announcement, on two simulated speakers
 * (real server and agent processes), one of them cut off from the server the whole time.
 * The station's stream drops once mid-relay. Afterwards the per-day report shows every play
 * once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startStreamServer, type StreamServer } from '@loalang/test-kit';
import { addDevice, api, requireTool, startCli, startServerProc, until, type Proc } from './support.js';

const haveTools = requireTool('ffmpeg');
const run = promisify(execFile);
const PASSWORD = 'programme-admin-pass';
const TZ = 'Asia/Ho_Chi_Minh';

/**
 * A TCP relay in front of the MQTT port that can be cut (the 4G link of a far village). Cutting
 * drops the connections it carries; while it is down nothing answers, as over a dead radio link:
 * a box's connection attempt gets no reply until the box gives up on it (its connect timeout) and
 * tries again later. An attempt still waiting when the link returns goes through, bytes and all,
 * as a retransmitted handshake would.
 */
async function cuttableLink(targetPort: number) {
  const sockets = new Set<Socket>();
  const waiting = new Map<Socket, { early: Buffer[]; keep: (b: Buffer) => void }>();
  let up = true;
  const carry = (client: Socket, early: Buffer[] = []) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    for (const b of early) upstream.write(b);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server: Server = createServer((client) => {
    if (up) return carry(client);
    const early: Buffer[] = [];
    const keep = (b: Buffer) => void early.push(b);
    waiting.set(client, { early, keep });
    client.on('data', keep);
    client.on('error', () => undefined);
    client.on('close', () => waiting.delete(client));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      up = true;
      for (const [client, { early, keep }] of waiting) {
        waiting.delete(client);
        client.off('data', keep);
        carry(client, early);
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const client of waiting.keys()) client.destroy();
        server.close(() => r());
      }),
  };
}

/** Local date parts of an instant in the area's timezone. */
function local(ms: number) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: TZ, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const isoDay = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts['weekday']!) + 1;
  return { isoDay, time: `${parts['hour']}:${parts['minute']}` };
}

describe.skipIf(!haveTools)('a weekly programme with a relay and a three-times announcement', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-programme-'));
  let server: Proc | undefined;
  const agents: Proc[] = [];
  let stream: StreamServer | undefined;
  let link: Awaited<ReturnType<typeof cuttableLink>> | undefined;
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
    await stream?.close();
    await link?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plays on both speakers, the cut-off one included, and the daily report shows each play once', async () => {
    // The provincial station's audio is made while the server starts.
    const mp3 = join(dir, 'station.mp3');
    const [s] = await Promise.all([startServerProc(join(dir, 'server'), PASSWORD), run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=330:duration=30', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', mp3])]);
    server = s.proc;
    const { base, token } = s;
    link = await cuttableLink(s.mqttPort);
    const commune = (await api<{ id: string }>(base, '/api/v1/areas', { token, json: { name: 'Xã Tà Xùa', parentId: s.rootAreaId } })).body;

    // The provincial station, as an Icecast MP3 stream that will drop once.
    stream = await startStreamServer(readFileSync(mp3), 64);
    stream.cutNextAfterMs = 3000;

    const speakers: { id: string; name: string; sink: string; cache: string }[] = [];
    for (const [name, viaLink] of [['Loa chợ', false], ['Loa bản xa', true]] as const) {
      const d = { body: await addDevice(s, name, commune.id) };
      const cache = join(dir, d.body.id, 'cache');
      const sink = join(dir, d.body.id, 'sink');
      const mqttUrl = viaLink ? `mqtt://127.0.0.1:${link.port}` : d.body.agentConfig['mqttUrl'];
      writeFileSync(join(dir, `${d.body.id}.json`), JSON.stringify({ ...d.body.agentConfig, mqttUrl, cacheDir: cache, serial: { simulate: true }, audioSink: `file:${sink}`, warmupMs: 300, tailMs: 300 }));
      agents.push(startCli(['agent', '--config', join(dir, `${d.body.id}.json`)], { LOALANG_LOG_LEVEL: 'warn' }));
      speakers.push({ id: d.body.id, name, sink, cache });
    }

    const upload = async (name: string, hz: number) => {
      const wav = join(dir, `${name}.wav`);
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=2`, wav]);
      const form = new FormData();
      form.append('areaId', commune.id); // fields before the file, so the server sees them first
      form.append('file', new Blob([readFileSync(wav)]), `${name}.wav`);
      const res = await api<{ id: string }>(base, '/api/v1/content', { token, body: form });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    };
    const [news, notice] = await Promise.all([upload('ban-tin', 500), upload('thong-bao', 800)]);

    // The programme: every week on this weekday at the next minute that leaves time to prepare.
    const at = Math.ceil((Date.now() + 25_000) / 60_000) * 60_000;
    const when = local(at);
    const targets = { areaIds: [commune.id], deviceIds: [] };
    const weekly = await api<{ id: string; status: string }>(base, '/api/v1/schedules', {
      token,
      json: { title: 'Chương trình thời sự tuần', areaId: commune.id, items: [{ contentId: news }, { streamUrl: stream.url, durationSec: 8 }], targets, start: new Date().toISOString(), recurrence: { type: 'weekly', days: [when.isoDay], time: when.time } },
    });
    expect(weekly.status, JSON.stringify(weekly.body)).toBe(201);
    expect(weekly.body.status).toBe('approved');
    // 2 s news + 1 s gap + 8 s relay end at +11 s; the announcement follows at +13 s, three times.
    const announcement = await api<{ id: string }>(base, '/api/v1/schedules', {
      token,
      json: { title: 'Thông báo tiêm chủng', areaId: commune.id, items: [{ contentId: notice }], targets, start: new Date(at + 13_000).toISOString(), repeat: { count: 3, gapSec: 2 } },
    });
    expect(announcement.status, JSON.stringify(announcement.body)).toBe(201);

    // Both speakers have the programme and its audio; then the far one loses its link.
    for (const s of speakers) {
      await until(`${s.name} has the audio`, 20_000, async () => [news, notice].every((c) => existsSync(join(s.cache, 'content', `${c}.audio`))));
    }
    await until('both online', 10_000, async () => (await api<{ online: boolean }[]>(base, `/api/v1/devices`, { token })).body.filter((d) => d.online).length === 2);
    expect(Date.now()).toBeLessThan(at - 2000);
    link.cut();
    const far = speakers[1]!;
    await until('far speaker seen offline', 20_000, async () => !(await api<{ online: boolean }>(base, `/api/v1/devices/${far.id}`, { token })).body.online);

    const wavs = (s: { sink: string }) => (existsSync(s.sink) ? readdirSync(s.sink).filter((f) => f.endsWith('.wav')) : []);
    await until('five plays on each speaker', at + 40_000 - Date.now(), async () => speakers.every((s) => wavs(s).length === 5));
    expect(stream.connections.length).toBe(3); // two speakers, one reconnection
    link.restore();

    type Row = { date: string; contentId: string; contentTitle: string; groupId: string; plays: number; seconds: number; interrupted: number; failed: number; skipped: number };
    const day = new Date(at).toISOString();
    const from = encodeURIComponent(new Date(at - 86400_000).toISOString());
    const to = encodeURIComponent(new Date(at + 86400_000).toISOString());
    type Report = { deviceId: string; playId: string; contentId: string; status: string; reason?: string; playedMs: number; scheduledAt: string; startedAt: string };
    const reports = await until('all ten reports, the far speaker\'s drained after the link returns', 60_000, async () => {
      const r = (await api<Report[]>(base, `/api/v1/reports?from=${from}&to=${to}`, { token })).body;
      return r.length >= 10 ? r : null;
    });
    await new Promise((r) => setTimeout(r, 3000)); // a duplicate resend would show up now
    expect((await api<Report[]>(base, `/api/v1/reports?from=${from}&to=${to}`, { token })).body).toHaveLength(10);
    expect(new Set(reports.map((r) => `${r.deviceId}/${r.playId}`)).size).toBe(10);
    expect(reports.every((r) => r.status === 'completed'), JSON.stringify(reports)).toBe(true);

    // The relay: both relayed most of the 8 s window; the one whose stream dropped says so.
    const relays = reports.filter((r) => r.contentId.startsWith('relay-'));
    expect(relays).toHaveLength(2);
    expect(relays.filter((r) => r.reason === 'stream-dropped:1')).toHaveLength(1);
    for (const r of relays) expect(r.playedMs).toBeGreaterThan(5000);
    // Every play started on time, the far speaker's too (its own clock, no server).
    for (const r of reports) expect(Math.abs(Date.parse(r.startedAt) - Date.parse(r.scheduledAt)), `${r.deviceId} ${r.playId} ${r.contentId} started ${r.startedAt}, planned ${r.scheduledAt}`).toBeLessThan(100);

    const daily = await api<{ timeZone: string; rows: Row[] }>(base, `/api/v1/reports/daily?areaId=${commune.id}&from=${from}&to=${to}`, { token });
    expect(daily.status).toBe(200);
    for (const s of speakers) {
      const rows = daily.body.rows.filter((r) => r.groupId === s.id);
      const of = (id: string) => rows.find((r) => r.contentId === id);
      expect(of(news), `${s.name} ${day}`).toMatchObject({ plays: 1, interrupted: 0, failed: 0, skipped: 0 });
      expect(of(notice)).toMatchObject({ plays: 3, seconds: 6 });
      const relay = rows.find((r) => r.contentId.startsWith('relay-'));
      expect(relay).toMatchObject({ plays: 1, contentTitle: expect.stringContaining(stream.url) });
      expect(relay!.seconds).toBeGreaterThanOrEqual(5);
      expect(relay!.seconds).toBeLessThanOrEqual(8);
    }
  }, 180_000);
});
