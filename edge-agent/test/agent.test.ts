/**
 * The agent against real peers: a plain Aedes broker over TCP, an HTTP content server with
 * Range and Basic auth, real ffmpeg writing WAV files.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredState, PlayReport } from '@loalang/protocol';
import { Agent } from '../src/agent.js';
import { parseAgentConfig, type AgentConfig } from '../src/config.js';
import { AgentStore } from '../src/storage/store.js';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';
import { FakeAmplifier, until } from '@loalang/test-kit';
import { observer, startBroker, startContentServer, testSigner, type ContentServer } from './peers.js';

const ffmpeg = locateFfmpeg();
let work: string;
let tone: string;
let toneSha: string;
let content: ContentServer;
const DEVICE = 'dev-1';
const PASSWORD = 'device-secret';
const signer = testSigner();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loalang-agent-'));
  tone = join(work, 'tone.ogg');
  execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ar', '48000', '-ac', '1', '-c:a', 'libopus', tone]);
  toneSha = createHash('sha256').update(readFileSync(tone)).digest('hex');
  content = await startContentServer({ tone: tone }, { user: DEVICE, password: PASSWORD });
});
afterAll(async () => {
  await content.close();
  rmSync(work, { recursive: true, force: true });
});

const agents: Agent[] = [];
/** Agents stop while their broker still answers: a goodbye never acknowledged costs its 2 s limit. */
const stopAgents = async () => {
  for (const a of agents.splice(0)) await a.stop();
};
afterEach(stopAgents);

function config(name: string, mqttPort: number): AgentConfig {
  return parseAgentConfig(
    { deviceId: DEVICE, password: PASSWORD, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, httpUrl: 'http://127.0.0.1', cacheDir: join(work, name, 'cache'), serial: { simulate: true }, audioSink: `file:${join(work, name, 'sink')}`, warmupMs: 200, tailMs: 200, serverKeys: signer.serverKeys },
    work,
  );
}

function desired(version: number, startInMs: number, sha = toneSha, playId = `play-${version}`): DesiredState {
  const now = Date.now();
  return {
    v: 1,
    deviceId: DEVICE,
    version,
    issuedAt: new Date(now).toISOString(),
    horizonUntil: new Date(now + 86400_000).toISOString(),
    plays: [{ playId, scheduleId: 'sched', contentId: 'tone', sha256: sha, url: content.url('tone'), durationMs: 2000, startAt: new Date(now + startInMs).toISOString(), priority: 'normal' }],
  };
}

async function start(cfg: AgentConfig, amp = new FakeAmplifier()): Promise<{ agent: Agent; amp: FakeAmplifier }> {
  const agent = await Agent.create(cfg, { amplifier: amp, exit: () => undefined });
  agents.push(agent);
  await agent.start();
  return { agent, amp };
}

const reportsIn = (seen: { topic: string; payload: unknown }[]) => seen.filter((m) => m.topic.endsWith('/report')).map((m) => m.payload as PlayReport);

describe('agent with real peers', () => {
  it('fetches, verifies and plays on time to the file sink, then reports until acknowledged', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      const cfg = config('play', broker.port);
      const { amp } = await start(cfg);
      await until('online status', () => obs.seen.some((m) => m.topic.endsWith('/status') && (m.payload as { state: string }).state === 'online'));
      const state = desired(1, 2500);
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', state), { qos: 1 });
      await until('reported state with the content cached', () => obs.seen.some((m) => m.topic.endsWith('/reported') && (m.payload as { cachedContentIds: string[] }).cachedContentIds.includes('tone')));
      await until('report', () => reportsIn(obs.seen).length > 0, 15_000);
      const report = reportsIn(obs.seen)[0]!;
      expect(report.status).toBe('completed');
      expect(Math.abs(Date.parse(report.startedAt!) - Date.parse(state.plays[0]!.startAt))).toBeLessThan(50);
      expect(amp.calls[0]).toBe('on');
      await until('amplifier off after the tail', () => amp.calls.at(-1) === 'off');

      const wav = join(work, 'play', 'sink', 'play-1.wav');
      const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=sample_rate,channels,codec_name:format=duration', '-of', 'json', wav], { encoding: 'utf8' });
      if (probe.status === 0) {
        const j = JSON.parse(probe.stdout) as { streams: { sample_rate: string; channels: number; codec_name: string }[]; format: { duration: string } };
        expect(j.streams[0]).toMatchObject({ sample_rate: '48000', channels: 1, codec_name: 'pcm_s16le' });
        expect(Math.abs(Number(j.format.duration) * 1000 - 2000)).toBeLessThanOrEqual(100);
      }
      expect(existsSync(wav)).toBe(true);
      const pcm = readFileSync(wav).subarray(44);
      let peak = 0;
      for (let i = 0; i < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
      expect(peak).toBeGreaterThan(3000); // not silent

      // Without an ack the report stays; with one it goes.
      const store = () => AgentStore.open(cfg.cacheDir);
      const s1 = store();
      expect(s1.outboxSize()).toBe(1);
      s1.close();
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/report/ack`, signer.seal(DEVICE, 'report/ack', { v: 1, reportId: report.reportId }), { qos: 1 });
      await until('outbox emptied', () => {
        const s = store();
        const n = s.outboxSize();
        s.close();
        return n === 0;
      });
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  }, 30_000);

  it('refuses content whose sha256 does not match and reports the play failed', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      const { amp } = await start(config('badhash', broker.port));
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', desired(1, 1500, 'f'.repeat(64))), { qos: 1 });
      await until('report', () => reportsIn(obs.seen).length > 0);
      expect(reportsIn(obs.seen)[0]).toMatchObject({ status: 'failed', reason: 'content-missing' });
      expect(amp.calls).toEqual([]);
      expect(existsSync(join(work, 'badhash', 'sink', 'play-1.wav'))).toBe(false);
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  });

  it('skips a non-emergency play inside quiet hours and reports why', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      const { amp } = await start(config('quiet', broker.port));
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      // A window around now, in UTC, so the test does not depend on the time of day.
      const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
      const state = { ...desired(1, 1500), quietHours: { from: hhmm(Date.now() - 3600_000), to: hhmm(Date.now() + 3600_000), timeZone: 'UTC' } };
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', state), { qos: 1 });
      await until('report', () => reportsIn(obs.seen).length > 0);
      expect(reportsIn(obs.seen)[0]).toMatchObject({ status: 'skipped', reason: 'quiet-hours' });
      expect(amp.calls).toEqual([]);
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  });

  it('an emergency cuts a normal play, which is reported interrupted by it', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      await start(config('preempt', broker.port));
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      const state = desired(1, 1500);
      const normal = state.plays[0]!;
      const emergency = { ...normal, playId: 'alarm', priority: 'emergency' as const, startAt: new Date(Date.parse(normal.startAt) + 800).toISOString() };
      state.plays.push(emergency);
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', state), { qos: 1 });
      await until('two reports', () => reportsIn(obs.seen).length === 2, 15_000);
      const byId = Object.fromEntries(reportsIn(obs.seen).map((r) => [r.playId, r]));
      expect(byId[normal.playId]).toMatchObject({ status: 'interrupted', reason: 'preempted-by:alarm' });
      expect(byId[normal.playId]!.playedMs).toBeLessThan(1500);
      expect(byId['alarm']).toMatchObject({ status: 'completed' });
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  });

  it('resumes an interrupted download with a Range request', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      content.cutNextAfter = 1000;
      content.requests.length = 0;
      await start(config('resume', broker.port));
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', desired(1, 60_000)), { qos: 1 });
      await until('cached after resume', () => obs.seen.some((m) => m.topic.endsWith('/reported') && (m.payload as { cachedContentIds: string[] }).cachedContentIds.includes('tone')), 45_000);
      expect(content.requests.map((r) => r.range)).toEqual([undefined, 'bytes=1000-']);
      expect(content.requests.every((r) => r.auth?.startsWith('Basic '))).toBe(true);
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  }, 60_000);

  it('plays from its stored programme after a restart with no server at all, keeping the report', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    const cfg = config('offline', broker.port);
    const first = await start(cfg);
    await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
    await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, signer.seal(DEVICE, 'desired', desired(1, 5000)), { qos: 1 });
    await until('cached', () => obs.seen.some((m) => m.topic.endsWith('/reported') && (m.payload as { cachedContentIds: string[] }).cachedContentIds.includes('tone')));
    await first.agent.stop();
    agents.splice(agents.indexOf(first.agent), 1);
    await obs.endAsync();
    await broker.close(); // the link is gone
    await content.close().catch(() => undefined);

    const { amp } = await start(cfg); // same cacheDir, broker unreachable
    await until('played offline', () => existsSync(join(work, 'offline', 'sink', 'play-1.wav')), 12_000);
    expect(amp.calls[0]).toBe('on');
    await until('report stored', () => {
      const s = AgentStore.open(cfg.cacheDir);
      const pending = s.pendingReports();
      s.close();
      return pending.length === 1 && pending[0]!.status === 'completed';
    });
    content = await startContentServer({ tone }, { user: DEVICE, password: PASSWORD });
  }, 30_000);

  it('drops malformed downlinks and keeps working; answers commands', async () => {
    const broker = await startBroker();
    const obs = await observer(broker.port);
    try {
      await start(config('cmd', broker.port));
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/desired`, 'not json', { qos: 1 });
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/cmd`, signer.seal(DEVICE, 'cmd', { v: 1, commandId: 'x' }), { qos: 1 });
      const cmd = { v: 1, commandId: 'c1', type: 'amp-test', issuedAt: new Date().toISOString() };
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/cmd`, signer.seal(DEVICE, 'cmd', cmd), { qos: 1 });
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/cmd`, signer.seal(DEVICE, 'cmd', { ...cmd, commandId: 'c2', type: 'volume', params: { volume: 55 } }), { qos: 1 });
      await obs.publishAsync(`loalang/v1/dev/${DEVICE}/cmd`, signer.seal(DEVICE, 'cmd', { ...cmd, commandId: 'c3', expiresAt: '2020-01-01T00:00:00Z' }), { qos: 1 });
      await until('three results', () => obs.seen.filter((m) => m.topic.endsWith('/cmd/result')).length === 3);
      const results = Object.fromEntries(obs.seen.filter((m) => m.topic.endsWith('/cmd/result')).map((m) => [(m.payload as { commandId: string }).commandId, m.payload]));
      expect(results['c1']).toMatchObject({ ok: true, result: { status: { power: true } } });
      expect(results['c2']).toMatchObject({ ok: true, result: { volume: 55 } });
      expect(results['c3']).toMatchObject({ ok: false, error: { code: 'expired' } });
    } finally {
      await obs.endAsync();
      await stopAgents();
      await broker.close();
    }
  });
});
