/**
 * In-process alert scenarios: the real server (HTTP console + Aedes broker + SQLite) on
 * loopback, and real agents (MQTT session, timeline, player, simulated amplifier board) in
 * the same process, each with its own clock if asked.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { pino } from 'pino';
import { startServer, type RunningServer, type ServerSettings } from '@loalang/console';
import { Agent, parseAgentConfig, type AudioSink, type PlayOutcome, type PreparedPlay } from '@loalang/edge-agent';
import { serverDatabase, untilWithin } from '@loalang/test-kit';
export { readEvents } from '@loalang/test-kit';
import { createSimulatedAmplifier, type SimulatedAmplifier } from '@loalang/firmware-bridge';
import { systemClock, type Clock, type ServerKey } from '@loalang/protocol';
import type { Role } from '@loalang/broker';

export const PASSWORD = 'mat-khau-thu-nghiem';

export interface AlertWorld {
  server: RunningServer;
  dir: string;
  provinceId: string;
  communeId: string;
  otherCommuneId: string;
  token: (username: string) => Promise<string>;
  addUser: (username: string, role: Role, areaId: string) => Promise<void>;
  api: <T = unknown>(token: string, method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: T }>;
  /** The server goes away (its data kept): an outage. */
  stopServer: () => Promise<void>;
  /** After stopServer: the server starts again on its data and its ports, with the world's clock. */
  reopen: () => Promise<void>;
  close: () => Promise<void>;
}

export async function startAlertWorld(settings: ServerSettings = {}, opts: { clock?: Clock } = {}): Promise<AlertWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-alerts-'));
  const database = await serverDatabase();
  const open = (httpPort = 0, mqttPort = 0) =>
    startServer({ dataDir: dir, httpPort, mqttPort, host: '127.0.0.1', logger: pino({ level: 'silent' }), settings: { ...database, ...settings }, ...(opts.clock ? { clock: opts.clock } : {}) });
  const server = await open();
  const { core } = server;
  const province = await core.areas.create({ name: 'Tỉnh Quảng Trị', parentId: null, geocodes: ['45'] });
  const commune = await core.areas.create({ name: 'Xã Hải An', parentId: province.id, geocodes: ['19495'] });
  const other = await core.areas.create({ name: 'Xã Triệu Phong', parentId: province.id, geocodes: ['19366'] });
  const base = `http://127.0.0.1:${server.httpPort}/api/v1`;
  const api = async <T,>(token: string, method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  let stopped = false;
  const world: AlertWorld = {
    server,
    dir,
    provinceId: province.id,
    communeId: commune.id,
    otherCommuneId: other.id,
    addUser: async (username, role, areaId) => void (await world.server.core.users.create({ username, password: PASSWORD, role, areaId })),
    token: async (username) => {
      const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
      return ((await res.json()) as { token: string }).token;
    },
    api,
    stopServer: async () => {
      stopped = true;
      await world.server.stop();
    },
    reopen: async () => {
      world.server = await open(server.httpPort, server.mqttPort);
      stopped = false;
    },
    close: async () => {
      if (!stopped) await world.server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** A clock `shiftMs` off real time, like a box whose NTP never worked. */
export function shiftedClock(shiftMs: number): Clock {
  return { now: () => Date.now() + shiftMs, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };
}

/** A sink that sounds for a fixed time without ffmpeg (many agents in one process); notes each start. */
export class TimedSink implements AudioSink {
  /** Epoch ms (µs resolution) at which each play started, in order. */
  readonly starts: number[] = [];
  constructor(private readonly durationMs: number) {}
  prepare(): PreparedPlay {
    return {
      cancel: () => undefined,
      start: (inMs = 0) => {
        // The audio sounds `inMs` after the call (the player's pre-roll).
        const began = performance.timeOrigin + performance.now() + inMs;
        this.starts.push(began);
        let finish: (o: PlayOutcome) => void = () => undefined;
        const done = new Promise<PlayOutcome>((r) => (finish = r));
        const timer = setTimeout(() => finish({ playedMs: this.durationMs, stopped: false }), inMs + this.durationMs);
        return {
          done,
          stop: () => {
            clearTimeout(timer);
            finish({ playedMs: Math.max(0, Math.round(performance.timeOrigin + performance.now() - began)), stopped: true });
          },
        };
      },
    };
  }
}

export interface RunningAgent {
  id: string;
  agent: Agent;
  sinkDir: string;
  /** Starts the agent again from its stored state (same device, same cache), as after a power cut. */
  restart: () => Promise<void>;
  /** The simulated amplifier board of the running agent (inject faults with `.simulator`). */
  amplifier: SimulatedAmplifier;
}

type AgentOptions = { position?: { lat: number; lon: number }; mqttUrl?: string; serverKeys?: ServerKey[] };

/** Registers a device in `areaId`; returns its raw agent configuration (file sink under `root`). */
export async function registerAgent(world: AlertWorld, name: string, areaId: string, opts: AgentOptions) {
  const { core } = world.server;
  const { device, secret } = await core.devices.create({ name, areaId });
  if (opts.position) await core.devices.update(device.id, { position: opts.position });
  const root = join(world.dir, 'agents', name);
  const sinkDir = join(root, 'sink');
  const raw = {
    deviceId: device.id,
    password: secret,
    mqttUrl: opts.mqttUrl ?? `mqtt://127.0.0.1:${world.server.mqttPort}`,
    httpUrl: `http://127.0.0.1:${world.server.httpPort}`,
    cacheDir: join(root, 'cache'),
    serial: { simulate: true },
    audioSink: `file:${sinkDir}`,
    // Like a real amplifier's warm-up: the play's ffmpeg processes are spawned this long before
    // the instant, so two agents sharing this process never spawn while the other is due.
    warmupMs: 800,
    tailMs: 500,
    serverKeys: opts.serverKeys ?? core.signer.trusted(),
  };
  return { id: device.id, root, sinkDir, raw };
}

/**
 * Registers a device in `areaId` and runs a real agent for it. With ALERT_TEST_LOG=<file>, the
 * agents log there at debug, written at once (a failing test's last lines are kept).
 */
/** `serverKeys`: the keys the box pins (default: the server's), e.g. a stranger's to make it refuse every downlink. */
export async function startAgent(world: AlertWorld, name: string, areaId: string, opts: AgentOptions & { sink?: AudioSink; clock?: Clock } = {}): Promise<RunningAgent> {
  const { id, root, sinkDir, raw } = await registerAgent(world, name, areaId, opts);
  const config = parseAgentConfig(raw, root);
  let amplifier: SimulatedAmplifier | undefined;
  const create = async () => {
    amplifier = createSimulatedAmplifier();
    const agent = await Agent.create(config, { amplifier, exit: () => undefined, ...(process.env['ALERT_TEST_LOG'] ? { logger: pino({ level: 'debug' }, pino.destination({ dest: process.env['ALERT_TEST_LOG'], sync: true })) } : {}), ...(opts.sink ? { sink: opts.sink } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
    await agent.start();
    return agent;
  };
  const running: RunningAgent = {
    id,
    agent: await create(),
    sinkDir,
    restart: async () => {
      running.agent = await create();
      running.amplifier = amplifier!;
    },
    amplifier: amplifier!,
  };
  return running;
}

export interface AgentProcess {
  id: string;
  sinkDir: string;
  /** The agent's log (pino JSON lines). */
  logFile: string;
  /** Its folder (config, cache and the SQLite store under `cache/`). */
  root: string;
  /** Changes its clock while it runs: a step (ms), or a drift from now on (ppm); see shifted-agent.mjs. */
  changeClock: (change: { stepMs?: number; driftPpm?: number }) => void;
  /** A power cut: SIGKILL, whatever it was doing, then the box boots again (the same agent and store). */
  powerCut: () => Promise<void>;
  stop: () => Promise<void>;
}

const SHIFTED_AGENT = fileURLToPath(new URL('../test-kit/src/shifted-agent.mjs', import.meta.url));

/**
 * Registers a device and runs its real agent in a process of its own, `shiftMs` off real time: a
 * box of its own, so its start is not held up by the server or another agent sharing the test's
 * event loop. Its log goes to `<root>/agent.log`.
 */
export async function startAgentProcess(world: AlertWorld, name: string, areaId: string, shiftMs: number, opts: AgentOptions = {}): Promise<AgentProcess> {
  const { id, root, sinkDir, raw } = await registerAgent(world, name, areaId, opts);
  mkdirSync(root, { recursive: true });
  const logFile = join(root, 'agent.log');
  const spawnAgent = () => {
    const log = openSync(logFile, 'a');
    const child = spawn(process.execPath, [SHIFTED_AGENT, JSON.stringify({ config: raw, root, shiftMs })], { stdio: ['pipe', log, log] });
    closeSync(log);
    return { child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
  };
  let running = spawnAgent();
  return {
    id,
    sinkDir,
    logFile,
    root,
    changeClock: (change) => void running.child.stdin?.write(`${JSON.stringify(change)}\n`),
    powerCut: async () => {
      running.child.kill('SIGKILL');
      await running.exited;
      running = spawnAgent();
    },
    stop: async () => {
      running.child.stdin?.end();
      const killer = setTimeout(() => running.child.kill('SIGKILL'), 5000);
      await running.exited;
      clearTimeout(killer);
    },
  };
}

/**
 * Waits until each agent has reported health with its clock offset in it: it sends that once its
 * connect burst of clock probes is answered, so it plays on server time as a box connected a while does.
 */
export async function clocksMeasured(world: AlertWorld, agents: { id: string }[], timeoutMs = 20_000): Promise<void> {
  const measured = async (id: string) => (await world.server.core.devices.get(id))?.latestTelemetry?.clockOffsetMs !== undefined;
  await until('clocks measured', async () => (await Promise.all(agents.map((a) => measured(a.id)))).every(Boolean), timeoutMs);
}

/** A play report as GET /reports gives it (the fields the fault tests read). */
export interface ReportView {
  playId: string;
  status: string;
  reason?: string;
  scheduledAt: string;
  startedAt: string;
}

/** The play reports of one device, newest first. */
export async function reportsOf(world: AlertWorld, token: string, deviceId: string): Promise<ReportView[]> {
  return (await world.api<ReportView[]>(token, 'GET', `/reports?deviceId=${deviceId}`)).body;
}

/** Schedules `passes` plays of `contentId` on one device from `at`, `gapSec` apart; its id. Throws with the API's answer unless created. */
export async function scheduleOn(world: AlertWorld, token: string, deviceId: string, s: { contentId: string; title: string; at: number; passes: number; gapSec?: number }): Promise<string> {
  const res = await world.api<{ id: string }>(token, 'POST', '/schedules', {
    title: s.title,
    items: [{ contentId: s.contentId }],
    targets: { areaIds: [], deviceIds: [deviceId] },
    start: new Date(s.at).toISOString(),
    repeat: { count: s.passes, gapSec: s.gapSec ?? 1 },
  });
  if (res.status !== 201) throw new Error(`schedule "${s.title}" not created: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** A tone as an audio file, imported through the real media pipeline. */
export async function toneContent(world: AlertWorld, seconds: number, title = `Tone ${seconds}s`): Promise<string> {
  const file = join(world.dir, `tone-${seconds}.wav`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=660:duration=${seconds}`, '-ar', '16000', '-ac', '1', file]);
  const item = await world.server.core.library.importAudio(file, { title, areaId: world.provinceId, originalName: null, createdBy: null });
  return item.id;
}

/** Polls (sync or async) conditions: 15 s unless told, every 50 ms. */
export const until = untilWithin({ timeoutMs: 15_000, intervalMs: 50 });
