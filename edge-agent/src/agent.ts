/**
 * The edge agent: applies the server's desired state, keeps the audio it needs, plays on
 * its own clock, reports every play through the outbox, answers commands, sends telemetry.
 * It starts playing from its stored state before the server is even reachable.
 */
import { join } from 'node:path';
import { every, silentLogger, systemClock, type Clock, type ClockTimer, type DesiredState, type Logger, type PlayReport, type Repeating, type ServerKey } from '@loalang/protocol';
import type { AmplifierController } from '@loalang/firmware-bridge';
import type { AgentConfig } from './config.js';
import { AgentStore } from './storage/store.js';
import { FfmpegSink, parseSinkSpec, type AudioSink } from './playback/audio-sink.js';
import { DEFAULT_RELAY_TIMING } from './playback/stream-relay.js';
import { ContentCache, type FetchLike } from './storage/content-cache.js';
import { MqttSession } from './link/mqtt-session.js';
import { Outbox } from './link/outbox.js';
import { Player } from './playback/player.js';
import { Timeline } from './playback/timeline.js';
import { handleCommand } from './commands.js';
import { buildTelemetry } from './health/telemetry.js';
import { locateFfmpeg } from './playback/ffmpeg.js';
import { AGENT_VERSION } from './version.js';
import { Conditions } from './health/conditions.js';
import { ClockSync, LIVE_CLOCK_BURST, LIVE_CLOCK_FOLLOW_MS, LIVE_CLOCK_PROBES, serverTimeClock } from './link/clock-sync.js';
import { AlertHandler } from './playback/alerts.js';
import { fetchTrusting, readCa } from './link/tls.js';
import { DownlinkGuard } from './link/downlink-guard.js';
import { RefusalReporter } from './link/refusals.js';
import { LiveReceiver } from './playback/live-receiver.js';
import { Downloader } from './link/downloader.js';
import { BoxLayout } from './update/box-layout.js';
import { Updater } from './update/updater.js';
import type { InstallFailpoint } from './update/failpoint.js';
import { updateHealth } from './update/health-check.js';

export interface AgentDeps {
  amplifier: AmplifierController;
  sink?: AudioSink;
  clock?: Clock;
  /**
   * A clock never stepped, to see steps of `clock` as they happen (ClockSync). Defaults to
   * performance.now when `clock` is the system's; none with another clock unless given.
   */
  monotonic?: () => number;
  logger?: Logger;
  fetch?: FetchLike;
  /** Called by the restart command; the default exits so the supervisor restarts the agent. */
  exit?: () => void;
  /** Recent log lines for the `logs` command (run.ts keeps them in a LogRing). */
  logs?: () => string[];
  /** The version this agent runs: its release's when installed as releases (run.ts), else AGENT_VERSION. */
  version?: string;
  /** The fault tests' kill at a step of installing an update (update/failpoint.ts). */
  updateFailpoint?: InstallFailpoint;
}

/** Newer version wins; a lower version with a later issue time means the server's database was reset. */
function isNewer(next: DesiredState, current: DesiredState | null): boolean {
  if (!current) return true;
  if (next.version > current.version) return true;
  return next.version < current.version && Date.parse(next.issuedAt) > Date.parse(current.issuedAt);
}

export class Agent {
  private telemetryTimer: Repeating | null = null;
  private cacheRetry: ClockTimer | null = null;
  private stopped = false;
  private readonly startedAt: number;
  /** A programme arrived from the server since this start (an update's health check). */
  private programmeReceived = false;
  private readonly updater: Updater;

  private constructor(
    private readonly config: AgentConfig,
    private readonly store: AgentStore,
    private readonly session: MqttSession,
    private readonly cache: ContentCache,
    private readonly outbox: Outbox,
    private readonly player: Player,
    private readonly timeline: Timeline,
    private readonly clockSync: ClockSync,
    private readonly alerts: AlertHandler,
    private readonly live: LiveReceiver,
    private readonly refusals: RefusalReporter,
    private readonly deps: Required<Omit<AgentDeps, 'sink' | 'fetch' | 'monotonic' | 'updateFailpoint'>> & Pick<AgentDeps, 'updateFailpoint'> & { ffmpeg: string; /** The server's time as this box knows it. */ serverClock: Clock; download: Downloader },
  ) {
    this.startedAt = deps.clock.now();
    const failpoint = deps.updateFailpoint;
    this.updater = new Updater({
      layout: config.installRoot ? new BoxLayout(config.installRoot) : null,
      pinned: config.releaseKeys ?? [],
      running: deps.version,
      arch: process.arch,
      nodeAbi: process.versions.modules,
      downloader: deps.download,
      send: (status) => session.publish('update/status', status),
      quietFor: (ms) => timeline.quietFor(ms, store.desiredState()?.plays ?? []),
      health: () =>
        updateHealth({
          connected: () => session.connected,
          programmeReceived: () => this.programmeReceived,
          amplifier: deps.amplifier,
          ffmpeg: deps.ffmpeg,
          sink: parseSinkSpec(config.audioSink),
          scratchDir: config.cacheDir,
        }),
      exit: () => deps.exit(),
      clock: deps.clock,
      logger: deps.logger,
      ...(failpoint ? { failpoint } : {}),
    });
  }

  static async create(config: AgentConfig, deps: AgentDeps): Promise<Agent> {
    const clock = deps.clock ?? systemClock;
    const logger = deps.logger ?? silentLogger;
    const ffmpeg = locateFfmpeg();
    const ca = config.caFile ? readCa(config.caFile) : undefined;
    // A disk that refuses writes is said once a minute at most (every play and report would say it).
    let storeFailureLoggedAt = Number.NEGATIVE_INFINITY;
    const store = AgentStore.open(config.cacheDir, (what, err) => {
      if (clock.now() - storeFailureLoggedAt < 60_000) return;
      storeFailureLoggedAt = clock.now();
      logger.error({ what, code: err.code, err: err.message }, "the agent's store cannot write (disk full or failing): playing and reporting from memory");
    });
    // The probes go out through the session made below; only called once it runs.
    const clockSync: ClockSync = new ClockSync({ clock, monotonic: deps.monotonic ?? (deps.clock ? undefined : () => performance.now()), send: (t0): Promise<void> => session.publish('time', { v: 1, t0 }, 0), logger });
    // Plays, alerts and the age of downlinks are all judged in server time.
    const serverClock = serverTimeClock(clock, clockSync);
    const guard: DownlinkGuard = new DownlinkGuard({
      state: {
        trustedKeys: () => store.trustedKeys(config.serverKeys),
        seen: () => store.seenDownlinks(),
        saveSeen: (seen) => store.saveSeenDownlinks(seen),
      },
      serverNow: () => serverClock.now(),
      clockKnown: (): boolean => clockSync.deviceAheadMs() !== undefined,
    });
    const version = deps.version ?? AGENT_VERSION;
    const session: MqttSession = new MqttSession({ agentVersion: version, url: config.mqttUrl, ...(config.failoverMqttUrls?.length ? { failoverUrls: config.failoverMqttUrls } : {}), deviceId: config.deviceId, password: config.password, keepaliveSec: config.keepaliveSec, logger, guard, clock, ...(ca ? { ca } : {}) });
    const download = deps.fetch ?? (ca ? fetchTrusting(ca) : undefined);
    const mirrors = config.failoverHttpUrls?.length ? [config.httpUrl, ...config.failoverHttpUrls] : undefined;
    const downloader = new Downloader({ auth: { username: config.deviceId, password: config.password }, logger, ...(download ? { fetch: download } : {}), ...(mirrors ? { mirrors } : {}) });
    const cache = new ContentCache({
      dir: join(config.cacheDir, 'content'),
      store,
      auth: { username: config.deviceId, password: config.password },
      maxBytes: config.cacheMaxBytes,
      logger,
      now: () => clock.now(),
      ...(download ? { fetch: download } : {}),
      ...(mirrors ? { mirrors } : {}),
    });
    const outbox = new Outbox(store, session, logger, clock);
    // Play instants and relay windows are in server time (decision 0013), so is the sink's view of them.
    const sink = deps.sink ?? new FfmpegSink(ffmpeg, parseSinkSpec(config.audioSink), DEFAULT_RELAY_TIMING, () => serverClock.now());
    const player = new Player({ amplifier: deps.amplifier, sink, clock: serverClock, logger, tailMs: config.tailMs });
    const timeline = new Timeline({
      player,
      cache,
      clock: serverClock,
      logger,
      warmupMs: config.warmupMs,
      volume: () => store.volume(config.volume),
      isDone: (id) => store.isPlayDone(id),
    });
    const alerts = new AlertHandler({ timeline, cache, send: (s) => session.publish('alert/status', s), clock: serverClock, logger });
    const refusals = new RefusalReporter({ send: (m) => session.publish('refused', m), now: () => clock.now() });
    const live = new LiveReceiver({
      timeline,
      trustedKeys: () => store.trustedKeys(config.serverKeys),
      clock: serverClock,
      logger,
      send: (s) => session.publish('live/status', s, 0),
      refuse: (r) => refusals.report(r),
      setUrgent: (urgent) => session.setUrgent(urgent),
      // A box that has measured its clock often enough (connected a while) needs no burst: a
      // province-wide announcement must not bring every speaker's probes at once.
      followClock: (on) => {
        if (!on) return clockSync.unfollow();
        if (clockSync.probeCount() < LIVE_CLOCK_PROBES) void clockSync.burst(LIVE_CLOCK_BURST.probes, LIVE_CLOCK_BURST.gapMs);
        clockSync.follow(LIVE_CLOCK_FOLLOW_MS);
      },
    });
    // Every outcome goes to the outbox (kept until the server acks it); alert plays also move their delivery on.
    timeline.on('report', (r: PlayReport) => {
      outbox.add(r, clock.now());
      alerts.onReport(r);
      live.onReport(r);
    });
    player.on('started', (p, at) => {
      alerts.onStarted(p, at);
      live.onStarted(p);
    });
    const exit = deps.exit ?? (() => process.kill(process.pid, 'SIGTERM'));
    return new Agent(config, store, session, cache, outbox, player, timeline, clockSync, alerts, live, refusals, { amplifier: deps.amplifier, clock, serverClock, logger, exit, ffmpeg, logs: deps.logs ?? (() => []), version, download: downloader, ...(deps.updateFailpoint ? { updateFailpoint: deps.updateFailpoint } : {}) });
  }

  async start(): Promise<void> {
    const { logger } = this.deps;
    const conditions = new Conditions(this.session, logger, () => this.deps.clock.now());
    conditions.start();
    this.deps.amplifier.on('event', (e) => {
      conditions.onAmpEvent(e);
      void this.sendTelemetry(); // health changed: tell the server now, not at the next tick
    });
    await this.deps.amplifier.start();
    const stored = this.store.desiredState();
    if (stored) {
      logger.info({ version: stored.version, plays: stored.plays.length }, 'playing from the stored programme');
      this.timeline.apply(stored);
      this.session.setAreas(stored.areaIds ?? []);
      this.syncCache(stored);
    }
    this.session.on('alert', (m) => this.alerts.onMessage(m));
    this.session.on('live', (m) => this.live.onMessage(m));
    this.session.on('live/audio', (areaId, payload) => this.live.onAudio(areaId, payload));
    this.live.start();
    this.outbox.start();
    this.session.on('desired', (state) => this.onDesired(state));
    this.session.on('cmd', (cmd) => {
      void handleCommand(cmd, {
        amplifier: this.deps.amplifier,
        player: this.player,
        ffmpeg: this.deps.ffmpeg,
        logger,
        // Commands carry server instants (expiry) and the test tone plays on the player's server time.
        clock: this.deps.serverClock,
        setVolume: (v) => this.store.saveVolume(v),
        volume: () => this.store.volume(this.config.volume),
        sync: () => this.publishReported(),
        restart: this.deps.exit,
        logs: this.deps.logs,
      }).then((result) => this.session.publish('cmd/result', result).catch(() => logger.warn({ commandId: cmd.commandId }, 'command result not sent')));
    });
    this.session.on('time/reply', (r, receivedAt) => this.clockSync.onReply(r, receivedAt));
    this.session.on('refused', (r) => this.refusals.report(r));
    this.session.on('update', (m) => this.updater.onMessage(m));
    this.session.on('connected', () => {
      this.updater.onConnected();
      this.publishReported();
      this.alerts.resendUnsent();
      this.live.resendStates();
      // Measure the clock first, then judge what waited for it and report health with the offset in it.
      void this.clockSync.burst().then(() => {
        this.session.releaseHeld();
        return this.sendTelemetry();
      });
    });
    this.clockSync.start();
    this.session.start();
    // A release on trial proves its health (or stops, and the previous version comes back).
    void this.updater.onStart();
    this.telemetryTimer = every(this.deps.clock, this.config.telemetryIntervalSec * 1000, () => void this.sendTelemetry());
  }

  private onDesired(state: DesiredState): void {
    if (state.deviceId !== this.config.deviceId) return;
    this.programmeReceived = true;
    if (state.serverKeys) this.learnKeys(state.serverKeys);
    const current = this.store.desiredState();
    if (!isNewer(state, current)) {
      this.publishReported();
      return;
    }
    this.store.saveDesiredState(state); // persisted before anything acts on it
    this.deps.logger.info({ version: state.version, plays: state.plays.length }, 'desired state applied');
    this.timeline.apply(state);
    this.session.setAreas(state.areaIds ?? []);
    this.syncCache(state);
  }

  /**
   * Key rotation: the server's signed list of keys to trust replaces ours, as long as it keeps
   * one we trust now (so a list can never lock the box out of its server).
   */
  private learnKeys(keys: ServerKey[]): void {
    const current = this.store.trustedKeys(this.config.serverKeys);
    if (JSON.stringify(keys) === JSON.stringify(current)) return;
    if (!keys.some((k) => current.some((c) => c.kid === k.kid && c.publicKey === k.publicKey))) {
      this.deps.logger.warn({ kids: keys.map((k) => k.kid) }, 'server key list ignored: it shares no key with the trusted ones');
      return;
    }
    this.store.saveTrustedKeys(keys, this.config.serverKeys);
    this.deps.logger.info({ kids: keys.map((k) => k.kid) }, 'server signing keys updated');
  }

  /** Downloads what the state needs; retries failures after 2 s, doubling to 5 min. */
  private syncCache(state: DesiredState, attempt = 0): void {
    if (this.cacheRetry) this.deps.clock.clearTimeout(this.cacheRetry);
    this.cacheRetry = null;
    void this.cache.ensureAll(state.plays).then(({ failed }) => {
      if (this.stopped) return; // the store is closed: the next start syncs again
      this.publishReported();
      if (failed.length > 0 && this.store.desiredState()?.version === state.version) {
        this.cacheRetry = this.deps.clock.setTimeout(() => this.syncCache(state, attempt + 1), Math.min(300_000, 2000 * 2 ** attempt));
      }
    }).catch((err: unknown) => this.deps.logger.error({ err: (err as Error).message, version: state.version }, 'content sync failed'));
  }

  private publishReported(): void {
    const state = this.store.desiredState();
    const needed = [...new Set(state?.plays.filter((p) => !p.streamUrl).map((p) => p.contentId) ?? [])];
    const missing = state ? needed.filter((id) => !state.plays.some((p) => p.contentId === id && this.cache.has(p))) : [];
    this.session
      .publish('reported', {
        v: 1,
        version: state?.version ?? 0,
        at: new Date(this.deps.clock.now()).toISOString(),
        cachedContentIds: this.cache.cachedIds(),
        missingContentIds: missing,
        agentVersion: this.deps.version,
        arch: process.arch,
      })
      .catch(() => undefined);
  }

  private async sendTelemetry(): Promise<void> {
    if (!this.session.connected) return;
    const t = await buildTelemetry({
      amplifier: this.deps.amplifier,
      cacheDir: this.config.cacheDir,
      startedAt: this.startedAt,
      now: this.deps.clock.now(),
      desiredVersion: this.store.desiredState()?.version ?? 0,
      playing: this.player.playing?.playId ?? null,
      outboxPending: this.store.outboxSize(),
      cacheBytes: this.cache.sizeBytes(),
      clockOffsetMs: this.clockSync.deviceAheadMs(),
      agentVersion: this.deps.version,
    });
    await this.session.publish('telemetry', t, 0).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.updater.stop();
    this.clockSync.stop();
    this.alerts.stop();
    this.live.stop();
    this.telemetryTimer?.stop();
    if (this.cacheRetry) this.deps.clock.clearTimeout(this.cacheRetry);
    this.telemetryTimer = this.cacheRetry = null;
    this.outbox.stop();
    await this.timeline.stop();
    await this.session.stop();
    await this.deps.amplifier.stop();
    this.store.close();
  }
}
