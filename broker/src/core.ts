/**
 * The server core: one SQLite file, the device-facing MQTT broker, the media pipeline and
 * the dispatcher of desired states. The console (HTTP) sits on top of it.
 */
import { EventEmitter } from 'node:events';
import { StreamSourceRepo } from './content/stream-sources.js';
import { join } from 'node:path';
import { every, systemClock, type Clock, type ClockTimer, type Logger, type MessageOf, type PlayReport, type Repeating, silentLogger } from '@loalang/protocol';
import { openDatabase, type Db } from './store/db.js';
import { AreaRepo } from './areas/areas.js';
import { UserRepo } from './accounts/users.js';
import { SessionRepo } from './accounts/sessions.js';
import { DeviceRepo } from './devices/devices.js';
import { ContentRepo } from './content/content-repo.js';
import { ContentLibrary } from './content/library.js';
import { ScheduleRepo } from './schedules/schedules.js';
import { ScheduleService } from './schedules/service.js';
import { DEFAULT_DESIRED_OPTIONS, DesiredStateService } from './schedules/desired-state.js';
import { Dispatcher } from './schedules/dispatcher.js';
import { ReportRepo } from './reports/reports.js';
import { IssuedPlays, ISSUED_PLAYS_RETAIN_MS } from './reports/issued-plays.js';
import { ReportIntake } from './reports/intake.js';
import { CommandRepo } from './devices/commands.js';
import { DeviceEventRepo } from './devices/events.js';
import { MqttServer } from './mqtt/index.js';
import type { TlsMaterial } from './mqtt/server.js';
import { MediaPipeline, type LoudnessTarget, type SpeechEngine } from './media/index.js';
import { UplinkRouter } from './mqtt/uplink-router.js';
import { AlarmRepo } from './alarms/alarms.js';
import { DEFAULT_TELEMETRY_RETENTION, TelemetryHistory, type TelemetryRetention } from './devices/telemetry-history.js';
import { AlarmRules, DEFAULT_ALARM_THRESHOLDS, type AlarmThresholds } from './alarms/rules.js';
import { AlarmWebhook, type WebhookOptions } from './alarms/webhook.js';
import { AlertRepo } from './alerts/alerts.js';
import { AuditRepo } from './audit/audit.js';
import { LoginThrottle } from './accounts/login-throttle.js';
import { SigningKeys } from './signing/keys.js';
import { DownlinkSequence, DownlinkSigner } from './signing/signer.js';
import { AlertService, DEFAULT_ALERT_OPTIONS, type AlertOptions } from './alerts/service.js';
import { AlertDesk } from './alerts/desk.js';

export interface CoreOptions {
  dataDir: string;
  mqttHost?: string;
  mqttPort: number;
  /** Base URL devices use to download content; set once the HTTP port is known. */
  publicHttpUrl: () => string;
  logger?: Logger;
  clock?: Clock;
  maxAudioDurationSec?: number;
  desiredHorizonMs?: number;
  /** Hosts schedules may relay streams from; absent: any http(s) host. */
  streamHosts?: string[];
  loudness?: LoudnessTarget;
  /** Text-to-speech engine; default espeak-ng. */
  speech?: SpeechEngine;
  alarmThresholds?: Partial<AlarmThresholds>;
  /** Where alarms are POSTed on raise and clear. */
  alarmWebhook?: WebhookOptions;
  telemetryRetention?: Partial<TelemetryRetention>;
  alerts?: Partial<AlertOptions>;
  /** CAP `sender` values POST /alerts/cap accepts; none: CAP ingest refuses every message. */
  capSenders?: string[];
  /** Hosts CAP audio `uri`s may be fetched from; none: such audio is not fetched (the text is spoken). */
  capAudioHosts?: string[];
  /** MQTT over TLS with this certificate and key (PEM); absent: plain TCP. */
  mqttTls?: TlsMaterial;
}

export class ServerCore {
  readonly areas: AreaRepo;
  readonly users: UserRepo;
  readonly sessions: SessionRepo;
  readonly devices: DeviceRepo;
  readonly content: ContentRepo;
  /** Uploads and speech into the library. */
  readonly library: ContentLibrary;
  readonly schedules: ScheduleRepo;
  /** Every rule about schedules: scope, items, plan, quiet hours, conflicts, approval. */
  readonly scheduling: ScheduleService;
  readonly reports: ReportRepo;
  readonly issuedPlays: IssuedPlays;
  /** Judges play reports against what each device was given (issue 14). */
  readonly reportIntake: ReportIntake;
  readonly commands: CommandRepo;
  readonly events: DeviceEventRepo;
  readonly desired: DesiredStateService;
  readonly dispatcher: Dispatcher;
  readonly alarms: AlarmRepo;
  readonly alarmRules: AlarmRules;
  readonly telemetry: TelemetryHistory;
  readonly alerts: AlertService;
  /** Alerts as callers issue, see and cancel them, within their areas. */
  readonly alertDesk: AlertDesk;
  readonly audit: AuditRepo;
  /** Wrong passwords per account and source address (issue 14). */
  readonly loginThrottle: LoginThrottle;
  readonly streamSources: StreamSourceRepo;
  readonly signingKeys: SigningKeys;
  readonly signer: DownlinkSigner;
  telemetryRetention: TelemetryRetention = DEFAULT_TELEMETRY_RETENTION;
  private pruner: Repeating | null = null;
  private firstPrune: ClockTimer | null = null;
  /** Lower-case host names relays may use, or null for any. */
  streamHosts: readonly string[] | null = null;
  capSenders: readonly string[] = [];
  capAudioHosts: readonly string[] = [];
  mqttPort = 0;
  /** Downlinks devices refused, by reason (metrics). */
  readonly refusals = new Map<string, number>();
  /**
   * What changed, for live views (the console's event stream): a device's presence or health,
   * a command's result. Alarms and alerts have their own emitters (`alarms`, `alerts`).
   */
  readonly changes = new EventEmitter<{ device: [deviceId: string]; command: [deviceId: string, commandId: string] }>().setMaxListeners(0);

  private constructor(
    readonly db: Db,
    readonly mqtt: MqttServer,
    readonly media: MediaPipeline,
    readonly clock: Clock,
    readonly logger: Logger,
    repos: {
      areas: AreaRepo;
      users: UserRepo;
      sessions: SessionRepo;
      devices: DeviceRepo;
      content: ContentRepo;
      schedules: ScheduleRepo;
      reports: ReportRepo;
      issuedPlays: IssuedPlays;
      commands: CommandRepo;
      events: DeviceEventRepo;
      alarms: AlarmRepo;
    },
    desired: DesiredStateService,
    dispatcher: Dispatcher,
    alarmRules: AlarmRules,
    alerts: AlertService,
    signing: { keys: SigningKeys; signer: DownlinkSigner },
  ) {
    this.alerts = alerts;
    this.signingKeys = signing.keys;
    this.signer = signing.signer;
    // A rotation step: sign with the new active key, and give online devices the new key list.
    signing.keys.onChange = () => {
      signing.signer.reload();
      for (const id of this.mqtt.onlineDevices()) this.dispatcher.resend(id, 'signing-keys');
    };
    this.audit = new AuditRepo(db);
    this.loginThrottle = new LoginThrottle(db, () => clock.now());
    this.streamSources = new StreamSourceRepo(db, () => clock.now());
    this.alarms = repos.alarms;
    this.alarmRules = alarmRules;
    this.telemetry = new TelemetryHistory(db);
    this.areas = repos.areas;
    this.users = repos.users;
    this.sessions = repos.sessions;
    this.devices = repos.devices;
    this.content = repos.content;
    this.library = new ContentLibrary({ areas: repos.areas, content: repos.content, media });
    this.alertDesk = new AlertDesk({ alerts, areas: repos.areas, devices: repos.devices, content: repos.content, library: this.library, clock });
    this.schedules = repos.schedules;
    this.scheduling = new ScheduleService({
      ...repos,
      streamHosts: () => this.streamHosts,
      clock,
      refresh: (deviceIds) => this.refreshDevices(deviceIds),
    });
    this.reports = repos.reports;
    this.issuedPlays = repos.issuedPlays;
    this.reportIntake = new ReportIntake({ reports: repos.reports, issued: repos.issuedPlays, alerts: new AlertRepo(db), now: () => clock.now() });
    this.commands = repos.commands;
    this.events = repos.events;
    this.desired = desired;
    this.dispatcher = dispatcher;
  }

  static async create(options: CoreOptions): Promise<ServerCore> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger ?? silentLogger;
    const db = openDatabase(join(options.dataDir, 'loalang.db'));
    const now = () => clock.now();
    const areas = new AreaRepo(db, now);
    const devices = new DeviceRepo(db, areas, now);
    const repos = {
      areas,
      users: new UserRepo(db, now),
      sessions: new SessionRepo(db, now),
      devices,
      content: new ContentRepo(db, now),
      schedules: new ScheduleRepo(db, now),
      reports: new ReportRepo(db, now),
      issuedPlays: new IssuedPlays(db),
      commands: new CommandRepo(db, now),
      events: new DeviceEventRepo(db, now),
      alarms: new AlarmRepo(db),
    };
    const alarmRules = new AlarmRules({ alarms: repos.alarms, devices, clock, logger }, { ...DEFAULT_ALARM_THRESHOLDS, ...options.alarmThresholds });
    if (options.alarmWebhook) {
      const webhook = new AlarmWebhook(options.alarmWebhook, { devices, areas, logger });
      repos.alarms.on('change', (change) => webhook.notify(change));
    }
    const media = await MediaPipeline.create({
      contentDir: join(options.dataDir, 'content'),
      logger,
      ...(options.maxAudioDurationSec ? { maxDurationSec: options.maxAudioDurationSec } : {}),
      ...(options.loudness ? { loudness: options.loudness } : {}),
      ...(options.speech ? { speech: options.speech } : {}),
    });
    // Reports arrive through the broker, which exists before the core that judges them.
    let core: ServerCore | null = null;
    const signingKeys = new SigningKeys(db, now);
    const active = signingKeys.active();
    if (active.created) logger.info({ kid: active.key.kid }, 'downlink signing key created');
    const signer = new DownlinkSigner(signingKeys, new DownlinkSequence(db, now), now);
    const mqtt = await MqttServer.create({
      signer,
      host: options.mqttHost ?? '0.0.0.0',
      port: options.mqttPort,
      directory: devices,
      onReport: async (deviceId, report) => core?.ingestReport(deviceId, report),
      logger,
      clock,
      ...(options.mqttTls ? { tls: options.mqttTls } : {}),
    });
    const desiredOptions = {
      ...DEFAULT_DESIRED_OPTIONS,
      ...(options.desiredHorizonMs ? { horizonMs: options.desiredHorizonMs } : {}),
      publicHttpUrl: options.publicHttpUrl,
    };
    const desired = new DesiredStateService(db, repos, desiredOptions, () => clock.now());
    const dispatcher = new Dispatcher({
      desired,
      publisher: mqtt,
      isOnline: (id) => mqtt.isOnline(id),
      allDeviceIds: () => devices.list().map((d) => d.id),
      serverKeys: () => signer.trusted(),
      clock,
      logger,
      onCut: (deviceId, cut) => {
        const what = cut.map((c) => `"${repos.schedules.get(c.scheduleId)?.title ?? c.scheduleId}" keeps ${c.kept} of ${c.kept + c.dropped} plays`).join('; ');
        logger.warn({ deviceId, cut }, 'programme cut to fit what a speaker accepts');
        alarmRules.onProgramme(deviceId, `programme too large for the speaker, cut to fit: ${what}`, clock.now());
      },
    });
    const alerts = new AlertService(
      {
        repo: new AlertRepo(db),
        devices,
        content: repos.content,
        publisher: mqtt,
        contentPath: (id) => media.contentPath(id),
        publicHttpUrl: options.publicHttpUrl,
        clock,
        logger,
      },
      { ...DEFAULT_ALERT_OPTIONS, ...options.alerts },
    );
    core = new ServerCore(db, mqtt, media, clock, logger, repos, desired, dispatcher, alarmRules, alerts, { keys: signingKeys, signer });
    core.capSenders = options.capSenders ?? [];
    core.capAudioHosts = (options.capAudioHosts ?? []).map((h) => h.toLowerCase());
    if (options.streamHosts) core.streamHosts = options.streamHosts.map((h) => h.toLowerCase());
    core.telemetryRetention = { ...DEFAULT_TELEMETRY_RETENTION, ...options.telemetryRetention };
    return core;
  }

  async start(): Promise<void> {
    this.devices.markAllOffline('server-start', this.clock.now());
    this.mqtt.on('presence', (change) => {
      this.devices.setPresence(change.deviceId, change.online, change.cause, change.at);
      this.alarmRules.onPresence(change.deviceId, change.online, change.at);
      this.alerts.onPresence(change.deviceId, change.online);
      this.changes.emit('device', change.deviceId);
    });
    // Sent when the device subscribes, not on connect: before that, a clean session would drop it.
    this.mqtt.on('listening', (deviceId) => {
      this.dispatcher.resend(deviceId, 'online');
      this.alerts.onListening(deviceId);
    });
    const uplinks = this.routeUplinks();
    this.mqtt.on('uplink', (msg) => uplinks.dispatch(msg));
    const { port } = await this.mqtt.start();
    this.mqttPort = port;
    this.dispatcher.start();
    this.alarmRules.start();
    this.alerts.start();
    // Retention: once soon after start, then hourly; batched, so requests are served meanwhile.
    const prune = () => {
      void this.telemetry.prune(this.clock.now(), this.telemetryRetention).then(
        (n) => n.raw + n.hourly > 0 && this.logger.info(n, 'old telemetry pruned'),
        (err: unknown) => this.logger.error({ err }, 'telemetry pruning failed'),
      );
      try {
        const issuedPlays = this.issuedPlays.prune(this.clock.now() - ISSUED_PLAYS_RETAIN_MS);
        const loginSources = this.loginThrottle.prune();
        if (issuedPlays + loginSources > 0) this.logger.info({ issuedPlays, loginSources }, 'old issued plays and login sources pruned');
      } catch (err) {
        this.logger.error({ err }, 'pruning issued plays or login sources failed');
      }
    };
    this.pruner = every(this.clock, 3600_000, prune);
    this.firstPrune = this.clock.setTimeout(prune, 60_000);
  }

  /** Each feature's handler per uplink kind; the MQTT layer answers time probes itself. */
  private routeUplinks(): UplinkRouter {
    return new UplinkRouter(this.logger)
      .on('telemetry', (deviceId, t) => {
        this.devices.recordTelemetry(deviceId, t);
        this.telemetry.record(deviceId, t, this.clock.now());
        this.alarmRules.onTelemetry(deviceId, t);
        this.changes.emit('device', deviceId);
      })
      .on('cmd/result', (deviceId, result) => {
        if (this.commands.complete(deviceId, result)) this.changes.emit('command', deviceId, result.commandId);
      })
      .on('alert/status', (deviceId, status) => this.alerts.onStatus(deviceId, status))
      .on('refused', (deviceId, refusal) => this.onRefusal(deviceId, refusal))
      .on('event', (deviceId, e) => {
        if (!this.events.insert(deviceId, e)) return;
        this.logger[e.active ? 'warn' : 'info']({ deviceId, kind: e.kind, code: e.code, detail: e.detail }, e.active ? 'device raised a condition' : 'device cleared a condition');
        this.alarmRules.onEvent(deviceId, e);
      })
      .on('reported', (deviceId, reported) => {
        this.devices.recordReported(deviceId, reported.version, reported.agentVersion);
        this.changes.emit('device', deviceId);
        const { state, cut } = this.desired.refresh(deviceId);
        if (reported.version < state.version) this.dispatcher.resend(deviceId, 'reported-behind');
        else if (cut.length === 0) this.alarmRules.onProgramme(deviceId, null, this.clock.now());
      });
  }

  /**
   * A play report: stored once if it agrees with what the device was given, then fed to the
   * alarm rules and the alert board; refused otherwise (counted, kept, audited). Either way the
   * device gets its ack (sent by the broker when this resolves), so its outbox drains.
   */
  ingestReport(deviceId: string, report: PlayReport): void {
    const result = this.reportIntake.accept(deviceId, report);
    if (result.outcome === 'stored') {
      this.alarmRules.onReport(deviceId, report);
      this.alerts.onReport(deviceId, report);
      return;
    }
    if (result.outcome !== 'refused' || !result.record) return;
    this.logger.warn({ deviceId, reportId: report.reportId, playId: report.playId, refusal: result.refusal, detail: result.detail }, 'play report refused');
    const budget = this.reportIntake.auditBudget(deviceId);
    if (!budget.record) return;
    const { reportId, playId, scheduleId, contentId, status, playedMs } = report;
    this.auditDevice(deviceId, 'report-refused', { refusal: result.refusal, reason: result.detail, report: { reportId, playId, scheduleId, contentId, status, playedMs }, ...(budget.suppressed ? { suppressed: budget.suppressed } : {}) });
  }

  /** An audit entry for something a device did, under the device's area. */
  private auditDevice(deviceId: string, action: string, detail: unknown): void {
    this.audit.append({
      at: new Date(this.clock.now()).toISOString(),
      userId: null,
      username: null,
      areaId: this.devices.get(deviceId)?.areaId ?? null,
      source: `device:${deviceId}`,
      action,
      target: deviceId,
      status: null,
      detail,
    });
  }

  /**
   * A device refused one of our downlinks (decision 0016): a forgery, a replay, a stale key or
   * a clock far off. Logged, counted and put in the audit log under the device's area.
   */
  private onRefusal(deviceId: string, r: MessageOf<'refused'>): void {
    this.refusals.set(r.reason, (this.refusals.get(r.reason) ?? 0) + 1 + (r.suppressed ?? 0));
    // The speaker keeps its older programme: technicians must know it did not take the new one.
    if (r.kind === 'desired') this.alarmRules.onProgramme(deviceId, `the speaker refused its programme: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`, this.clock.now());
    this.logger.warn({ deviceId, kind: r.kind, reason: r.reason, detail: r.detail, seq: r.seq, kid: r.kid, suppressed: r.suppressed }, 'device refused a downlink');
    this.auditDevice(deviceId, 'device-refused-downlink', r);
  }

  /** Throws when the database does not answer (liveness). */
  pingDatabase(): void {
    this.db.prepare('SELECT 1').get();
  }

  /** Call after schedules or devices change: recomputes and sends what changed. */
  refreshDevices(deviceIds: Iterable<string>): void {
    this.dispatcher.refresh(deviceIds, 'change');
  }

  async stop(): Promise<void> {
    this.pruner?.stop();
    if (this.firstPrune) this.clock.clearTimeout(this.firstPrune);
    this.alarmRules.stop();
    this.alerts.stop();
    this.dispatcher.stop();
    await this.mqtt.stop();
    this.db.close();
  }
}
