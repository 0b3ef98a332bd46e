/**
 * A live announcement end to end (issue 18): an operator prepares it over the REST API, a source
 * feeds a known Vietnamese recording as Opus frames in real time over the feed socket, and two
 * real agents, each in a process of its own with its clock seconds off and behind an emulated
 * rural 4G link, play it into WAV files. Both files hold the recording (cross-correlation); the
 * mouth-to-horn latency and the skew between the speakers are measured and printed; one agent's
 * link is cut for 5 s mid-session and it comes back at the live point; the report lists both,
 * and the recording is in the library.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLink, type Link } from '@loalang/test-kit';
import { livePlayId } from '@loalang/protocol';
import { execFileSync } from 'node:child_process';
import { requireTool, startCli } from './support.js';
import { clocksMeasured, startAgentProcess, startAlertWorld, until, type AgentProcess, type AlertWorld } from './alert-support.js';
import { align, analyseTwoSpeakers, describeTwoSpeakers, expectTwoSpeakersInStep, feedInRealTime, opusFramesOf, pcmOf, RATE, sinkOf, spokenAnnouncement } from './live-support.js';

const ready = requireTool('ffmpeg') && requireTool('espeak-ng');

/** Said once, no sentence twice: a repeated one would let the recording be found at two places. */
const TEXT =
  'Kính thưa bà con, chiều nay từ hai giờ đến năm giờ, điện lực sẽ cắt điện để sửa đường dây trên địa bàn thôn Đông và thôn Tây. ' +
  'Bà con chú ý sắp xếp công việc, bảo quản thực phẩm và không đến gần cột điện trong thời gian sửa chữa. ' +
  'Sáng mai, trạm y tế xã tổ chức tiêm chủng cho trẻ em dưới năm tuổi; các gia đình mang theo sổ tiêm chủng. ' +
  'Hội nông dân mời các hộ trồng lúa dự buổi tập huấn phòng trừ sâu bệnh vào tối thứ sáu tại nhà văn hóa.';

interface Prepared {
  session: { id: string };
  ticket: string;
  speakers: number;
  feedPath: string;
}
interface Detail {
  session: { id: string; endedAt: string | null; endReason: string | null; contentId: string | null };
  speakers: { deviceId: string; state: string }[];
  outcomes: { deviceId: string; plays: number; playedMs: number; statuses: string[] }[];
}

describe.runIf(ready)('a live announcement through real agents', () => {
  let world: AlertWorld;
  let operator: string;
  const processes: AgentProcess[] = [];
  const links: Link[] = [];

  beforeAll(async () => {
    world = await startAlertWorld();
    await world.addUser('phat-thanh', 'operator', world.communeId);
    operator = await world.token('phat-thanh');
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await Promise.all(links.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    await world?.close();
  });

  it('two speakers behind 4G links play the recording in step; one cut for 5 s rejoins at the live point; both are reported', async () => {
    const source = spokenAnnouncement(world.dir, TEXT);
    const frames = opusFramesOf(source);
    const seconds = frames.length * 0.02;
    expect(seconds).toBeGreaterThan(18);

    for (const [name, shiftMs] of [['loa-a', 2500], ['loa-b', -1800]] as const) {
      const link = await startLink({ target: { port: world.server.mqttPort }, profile: 'rural4g' });
      links.push(link);
      processes.push(await startAgentProcess(world, name, world.communeId, shiftMs, { mqttUrl: link.url('mqtt') }));
    }
    const [a, b] = processes as [AgentProcess, AgentProcess];
    await until('both speakers online', () => processes.every((p) => world.server.core.mqtt.isOnline(p.id)), 20_000);
    // Their clocks are measured on connect (8 probes over 2 s): a speaker connected a while.
    await clocksMeasured(world, processes);

    const prepared = await world.api<Prepared>(operator, 'POST', '/live', { areaIds: [world.communeId], title: 'Thông báo cắt điện' });
    expect(prepared.status).toBe(201);
    expect(prepared.body.speakers).toBe(2);
    const sessionId = prepared.body.session.id;
    const url = `ws://127.0.0.1:${world.server.httpPort}${prepared.body.feedPath}?ticket=${prepared.body.ticket}`;

    // Speaker B's link is cut a third of the way in, for 5 s.
    const cutAfterMs = Math.round((seconds * 1000) / 3);
    let restoredAt = 0;
    const cut = (async () => {
      await new Promise((r) => setTimeout(r, cutAfterMs));
      links[1]!.cut();
      await new Promise((r) => setTimeout(r, 5000));
      links[1]!.restore();
      restoredAt = performance.timeOrigin + performance.now();
    })();
    const fed = await feedInRealTime(url, frames);
    await cut;
    expect(await fed.closed).toBe(1000);
    expect(fed.events[0]).toMatchObject({ type: 'open' });
    expect(fed.events.at(-1)).toMatchObject({ type: 'ended', session: { id: sessionId, endReason: 'ended' } });

    // Both plays end (their reports come in) and the recording is stored.
    const view = async () => (await world.api<Detail>(operator, 'GET', `/live/${sessionId}`)).body;
    const final = await until('both speakers reported and the recording stored', async () => {
      const v = await view();
      return v.outcomes.length === 2 && v.session.contentId ? v : null;
    }, 30_000);

    const cutFrame = Math.floor(cutAfterMs / 20);
    const r = analyseTwoSpeakers(source, fed.sentAt, sinkOf(a.sinkDir, livePlayId(sessionId)), sinkOf(b.sinkDir, livePlayId(sessionId)), cutFrame, restoredAt);
    console.log(`live e2e: ${seconds.toFixed(1)} s of speech; ${describeTwoSpeakers(r)}`);
    expectTwoSpeakersInStep(r);

    // The report lists both, each with how long it actually played.
    const outcome = (id: string) => final.outcomes.find((o) => o.deviceId === id)!;
    expect(outcome(a.id)).toMatchObject({ plays: 1, statuses: ['completed'] });
    expect(outcome(a.id).playedMs).toBeGreaterThan(seconds * 1000 - 1000);
    expect(outcome(b.id).statuses).toEqual(['completed']);
    // Its link was down 5 s: what it could not play is not counted (a few concealed frames are).
    expect(outcome(b.id).playedMs).toBeGreaterThan(seconds * 1000 - 9000);
    expect(outcome(b.id).playedMs).toBeLessThan(outcome(a.id).playedMs - 3000);
    expect(final.speakers.map((s) => [s.deviceId, s.state]).sort()).toEqual([[a.id, 'ended'], [b.id, 'ended']].sort());
    // What was said is in the library, under the session's id.
    const item = await world.server.core.content.require(sessionId);
    expect(item).toMatchObject({ kind: 'live', title: 'Thông báo cắt điện', areaId: world.communeId });
    expect(Math.abs(item.durationMs - seconds * 1000)).toBeLessThan(1500);
  }, 120_000);

  it('`loalang live` speaks a file from a studio PC to the speakers of an area, and ends with it', async () => {
    const file = `${world.dir}/studio.wav`;
    execFileSync('espeak-ng', ['-v', 'vi', '-w', file, '--', 'Đây là chương trình phát thanh trực tiếp từ phòng thu của xã. Xin mời bà con đón nghe.']);
    const source = pcmOf(file);
    processes.push(await startAgentProcess(world, 'loa-studio', world.communeId, 700));
    const [agent] = processes as [AgentProcess];
    await until('the speaker online', () => world.server.core.mqtt.isOnline(agent.id), 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    const cli = startCli(['live', '--server', `http://127.0.0.1:${world.server.httpPort}`, '--area', world.communeId, '--input', file, '--title', 'Phòng thu'], { LOALANG_TOKEN: operator });
    try {
      // The commune's speakers: the one running here, and those of the test before if it ran (stopped).
      await cli.waitFor(/Đang phát trực tiếp tới \d+ loa/, 10_000);
      await cli.waitFor(/Kết thúc phát trực tiếp \/ live announcement ended \(ended, [\d.]+ s\)/, 60_000);
      expect(await new Promise((r) => cli.child.once('exit', r))).toBe(0);
    } finally {
      await cli.stop();
    }
    const sessions = (await world.api<{ id: string; title: string }[]>(operator, 'GET', '/live')).body;
    const session = sessions.find((x) => x.title === 'Phòng thu')!;
    await until('the play reported', async () => (await world.api<Detail>(operator, 'GET', `/live/${session.id}`)).body.outcomes.length === 1, 20_000);
    const heard = sinkOf(agent.sinkDir, livePlayId(session.id));
    const fit = align(source, heard.pcm);
    console.log(`loalang live: correlation ${fit.correlation.toFixed(3)} over ${(source.length / RATE).toFixed(1)} s`);
    expect(fit.correlation).toBeGreaterThan(0.8);
  }, 90_000);
});
