/**
 * The one place the server is put together: it opens the database and builds every repository
 * and service with the edges it needs (clock, logger, media tools, the MQTT broker as the
 * publisher of downlinks). Nothing here acts; `ServerCore` starts the parts and routes the
 * devices' messages to them.
 */
import { join } from 'node:path';
import { hostname } from 'node:os';
import { systemClock, silentLogger, type Clock, type Logger, type ServerKey } from '@loalang/protocol';
import { openStore, type Database, type Store } from './store/database.js';
import { AreaRepo } from './areas/areas.js';
import { UserRepo } from './accounts/users.js';
import { SessionRepo } from './accounts/sessions.js';
import { LoginThrottle } from './accounts/login-throttle.js';
import { DeviceRepo } from './devices/devices.js';
import { CommandRepo } from './devices/commands.js';
import { DeviceEventRepo } from './devices/events.js';
import { DEFAULT_TELEMETRY_RETENTION, TelemetryHistory, type TelemetryRetention } from './devices/telemetry-history.js';
import { ContentRepo } from './content/content-repo.js';
import { ContentLibrary } from './content/library.js';
import { ContentCatalogue } from './content/catalogue.js';
import { StreamSourceRepo } from './content/stream-sources.js';
import { ScheduleRepo } from './schedules/schedules.js';
import { ScheduleService } from './schedules/service.js';
import { DEFAULT_DESIRED_OPTIONS, DesiredStateService } from './schedules/desired-state.js';
import { Dispatcher } from './schedules/dispatcher.js';
import { ReportRepo } from './reports/reports.js';
import { IssuedPlays } from './reports/issued-plays.js';
import { ReportIntake } from './reports/intake.js';
import { REPORT_BATCH_MAX, REPORT_BATCH_WINDOW_MS, REPORT_BATCHES_IN_FLIGHT, ReportBatcher, type ReportBatchOptions } from './reports/batch-intake.js';
import { MqttServer, type TlsMaterial } from './mqtt/server.js';
import { MediaPipeline, type LoudnessTarget, type SpeechEngine } from './media/index.js';
import { AlarmRepo } from './alarms/alarms.js';
import { AlarmRules, DEFAULT_ALARM_THRESHOLDS, type AlarmThresholds } from './alarms/rules.js';
import { AlarmWebhook, type WebhookOptions } from './alarms/webhook.js';
import { AlertRepo } from './alerts/alerts.js';
import { AlertService, DEFAULT_ALERT_OPTIONS, type AlertOptions } from './alerts/service.js';
import { AlertDesk } from './alerts/desk.js';
import { AuditRepo } from './audit/audit.js';
import { SigningKeys } from './signing/keys.js';
import { deviceAuthKeyFile } from './devices/auth-key.js';
import { DownlinkSequence, DownlinkSigner } from './signing/signer.js';
import { DEFAULT_LIVE_OPTIONS, LiveService } from './live/service.js';
import { LiveDesk } from './live/desk.js';
import { LiveSessionRepo } from './live/sessions.js';
import { ffmpegLiveRecorder } from './live/recorder.js';
import { DeviceFleet } from './devices/fleet.js';
import { AreaAdmin } from './areas/area-admin.js';
import { AccountAdmin } from './accounts/account-admin.js';
import { ServiceAccountRepo } from './accounts/service-accounts.js';
import { ServiceAccountAdmin } from './accounts/service-account-admin.js';
import { OutboxRepo } from './outbox/outbox.js';
import { OutboxSender, type OutboxPost, type OutboxSenderOptions } from './outbox/sender.js';
import { UpstreamConnector, type UpstreamConfig } from './upstream/connector.js';
import { ClusterNode, type ClusterOptions } from './cluster/node.js';
import { RolloutRepo } from './updates/rollout-repo.js';
import { ReleaseStore } from './updates/release-store.js';
import { RolloutService } from './updates/rollouts.js';
import { UpdateDesk } from './updates/update-desk.js';
import { BulletinRepo } from './bulletins/repo.js';
import { BulletinService } from './bulletins/service.js';
import { BulletinProgress } from './bulletins/progress.js';
import { EventEmitter } from 'node:events';
import type { PresenceChange } from './mqtt/contracts.js';
import { WebhookRepo } from './webhooks/subscriptions.js';
import { WebhookPublisher, WEBHOOK_CHANNEL_PREFIX } from './webhooks/publisher.js';
import { WebhookAdmin } from './webhooks/admin.js';
import { DEFAULT_WEBHOOK_DELIVERY, webhookRoute, type WebhookDeliveryOptions } from './webhooks/delivery.js';
import { connectWebhookSources } from './webhooks/sources.js';

export interface CoreOptions {
  dataDir: string;
  /** PostgreSQL (`postgres://…`, issue 16); absent: the SQLite file `<dataDir>/loalang.db`. */
  databaseUrl?: string;
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
  /** The release keys' public halves (issue 20): uploads of agent releases must be signed by one. */
  releaseKeys?: ServerKey[];
  /** Hosts CAP audio `uri`s may be fetched from; none: such audio is not fetched (the text is spoken). */
  capAudioHosts?: string[];
  /** Hosts a bulletin's `audioUrl` may be fetched from (LOALANG_BULLETIN_AUDIO_HOSTS); none: bulletins with audio URLs are refused. */
  bulletinAudioHosts?: string[];
  /** How much later than now a bulletin due now starts, so speakers fetch its audio first (default a minute; tests shorten it). */
  bulletinStartLeadMs?: number;
  /** MQTT over TLS with this certificate and key (PEM); absent: plain TCP. */
  mqttTls?: TlsMaterial;
  /**
   * How play reports from MQTT are collected into batches (reports/batch-intake.ts); false: each
   * is stored on its own, as before issue 16 (for benchmarks' comparison).
   */
  reportBatching?: Partial<ReportBatchOptions> | false;
  /** The upstream reporting connector to the province's HTTTN (issue 21); absent: off. */
  upstream?: Omit<UpstreamConfig, 'source'> & { source?: string };
  /** The outbox's sending (decision 0030): waits, timeouts; `post` replaces HTTP in tests. */
  outbox?: Partial<OutboxSenderOptions> & { post?: OutboxPost };
  /** This server's name in the audit log and among a cluster's nodes (LOALANG_NODE_ID); default: the host's name. */
  nodeId?: string;
  /** Run as a node of a cluster (issue 17): Redis shared with the other nodes, and PostgreSQL in `databaseUrl`. */
  cluster?: ClusterOptions;
  /** Integrators' webhooks (issue 21): one attempt's timeout and when a delivery is given up (tests shorten them). */
  webhookDelivery?: Partial<WebhookDeliveryOptions>;
}

/** Settings an administrator may change while the server runs (tests do too). */
export interface RuntimeSettings {
  streamHosts: readonly string[] | null;
  capSenders: readonly string[];
  capAudioHosts: readonly string[];
  bulletinAudioHosts: readonly string[];
  telemetryRetention: TelemetryRetention;
}

/** Everything the server is made of, built and connected but not started. */
export interface ServerParts {
  /** The database (SQLite or PostgreSQL) the repositories share. */
  store: Store;
  database: Database;
  clock: Clock;
  logger: Logger;
  mqtt: MqttServer;
  media: MediaPipeline;
  settings: RuntimeSettings;
  areas: AreaRepo;
  areaAdmin: AreaAdmin;
  users: UserRepo;
  sessions: SessionRepo;
  loginThrottle: LoginThrottle;
  accounts: AccountAdmin;
  /** Service accounts' API keys (issue 21): the rules, the key check and its rate limit. */
  serviceAccounts: ServiceAccountAdmin;
  /** Webhook subscriptions (issue 21): the rules, and the delivery log from the outbox. */
  webhooks: WebhookAdmin;
  /** Devices this node recorded going offline (ServerCore emits; webhooks listen). */
  presenceEvents: EventEmitter<{ offline: [PresenceChange] }>;
  devices: DeviceRepo;
  fleet: DeviceFleet;
  commands: CommandRepo;
  events: DeviceEventRepo;
  telemetry: TelemetryHistory;
  content: ContentRepo;
  library: ContentLibrary;
  catalogue: ContentCatalogue;
  streamSources: StreamSourceRepo;
  schedules: ScheduleRepo;
  scheduling: ScheduleService;
  desired: DesiredStateService;
  dispatcher: Dispatcher;
  reports: ReportRepo;
  issuedPlays: IssuedPlays;
  reportIntake: ReportIntake;
  /** Collects reports from MQTT into batches for `reportIntake`; null: one at a time. */
  reportBatcher: ReportBatcher | null;
  alarms: AlarmRepo;
  alarmRules: AlarmRules;
  alerts: AlertService;
  alertDesk: AlertDesk;
  /** Live announcements (issue 18): sessions, their timelines and fan-out. */
  liveAnnouncements: LiveService;
  /** Live announcements as callers see them: rights, tickets, speakers, records, recordings. */
  liveDesk: LiveDesk;
  audit: AuditRepo;
  releases: ReleaseStore;
  rollouts: RolloutService;
  updateDesk: UpdateDesk;
  /** What the server owes other systems, until delivered (issue 21, decision 0030). */
  outbox: OutboxRepo;
  /** Sends the outbox (on the leader). */
  outboxSender: OutboxSender;
  /** Reports to the province's HTTTN through the outbox; null when not configured. */
  upstream: UpstreamConnector | null;
  signingKeys: SigningKeys;
  signer: DownlinkSigner;
  /** This server as a node: alone, or one of a cluster (leader lock, bus, presence elsewhere). */
  cluster: ClusterNode;
  /** Bulletins from upstream systems (issue 21 item 2) and the leader's check of their outcome. */
  bulletins: BulletinService;
  bulletinProgress: BulletinProgress;
}

export async function wireServer(options: CoreOptions): Promise<ServerParts> {
  const localClock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const settings: RuntimeSettings = {
    streamHosts: options.streamHosts ? options.streamHosts.map((h) => h.toLowerCase()) : null,
    capSenders: options.capSenders ?? [],
    capAudioHosts: (options.capAudioHosts ?? []).map((h) => h.toLowerCase()),
    bulletinAudioHosts: (options.bulletinAudioHosts ?? []).map((h) => h.toLowerCase()),
    telemetryRetention: { ...DEFAULT_TELEMETRY_RETENTION, ...options.telemetryRetention },
  };
  if (options.cluster) ClusterNode.check(options.cluster, options.databaseUrl);
  const store = await openStore({ ...(options.databaseUrl ? { url: options.databaseUrl } : {}), file: join(options.dataDir, 'loalang.db') }, { backgroundCheckpoints: { logger } });
  logger.info({ dialect: store.dialect, database: store.location }, 'database open');
  const database = store.db;
  const nodeId = options.cluster?.nodeId ?? options.nodeId ?? hostname();
  const cluster = options.cluster ? ClusterNode.clustered(options.cluster, database, options.databaseUrl, localClock, logger) : ClusterNode.alone(nodeId, logger);
  // A node of a cluster keeps time by the database server's clock, the same on every node.
  const clock = cluster.clockFrom(localClock);
  const now = () => clock.now();
  const areas = new AreaRepo(database, now);
  const clusterAuthKey = cluster.deviceAuthKey();
  const devices = clusterAuthKey ? new DeviceRepo(database, areas, now, clusterAuthKey, nodeId) : new DeviceRepo(database, areas, now, await deviceAuthKeyFile(options.dataDir));
  const repos = {
    areas,
    users: new UserRepo(database, now),
    sessions: new SessionRepo(database, now),
    devices,
    content: new ContentRepo(database, now),
    schedules: new ScheduleRepo(database, now),
    reports: new ReportRepo(database, now),
    issuedPlays: new IssuedPlays(database),
    commands: new CommandRepo(database, now),
    events: new DeviceEventRepo(database, now),
    alarms: new AlarmRepo(database),
  };
  const alarmRules = new AlarmRules({ alarms: repos.alarms, devices, clock, logger }, { ...DEFAULT_ALARM_THRESHOLDS, ...options.alarmThresholds });
  const media = await MediaPipeline.create({
    contentDir: join(options.dataDir, 'content'),
    logger,
    ...(options.maxAudioDurationSec ? { maxDurationSec: options.maxAudioDurationSec } : {}),
    ...(options.loudness ? { loudness: options.loudness } : {}),
    ...(options.speech ? { speech: options.speech } : {}),
  });
  const signingKeys = new SigningKeys(database, now);
  const active = await signingKeys.active();
  if (active.created) logger.info({ kid: active.key.kid }, 'downlink signing key created');
  // Sealing is synchronous: the signer reads its keys, and the sequence its first block, now.
  const signer = new DownlinkSigner(signingKeys, await DownlinkSequence.open(database, now, { logger }), now);
  await signer.reload();
  const mqttCluster = cluster.mqttCluster();
  const mqtt = await MqttServer.create({
    signer,
    host: options.mqttHost ?? '0.0.0.0',
    port: options.mqttPort,
    directory: devices,
    logger,
    clock,
    ...(options.mqttTls ? { tls: options.mqttTls } : {}),
    ...(mqttCluster ? { cluster: mqttCluster } : {}),
  });
  const desired = new DesiredStateService(
    database,
    repos,
    { ...DEFAULT_DESIRED_OPTIONS, ...(options.desiredHorizonMs ? { horizonMs: options.desiredHorizonMs } : {}), publicHttpUrl: options.publicHttpUrl },
    now,
  );
  const dispatcher = new Dispatcher({
    desired,
    publisher: mqtt,
    isOnline: (id) => mqtt.isOnline(id),
    allDeviceIds: async () => (await devices.list()).map((d) => d.id),
    serverKeys: () => signer.trusted(),
    clock,
    logger,
    onCut: async (deviceId, cut) => {
      const titles = await Promise.all(cut.map(async (c) => (await repos.schedules.get(c.scheduleId))?.title ?? c.scheduleId));
      const what = cut.map((c, i) => `"${titles[i]}" keeps ${c.kept} of ${c.kept + c.dropped} plays`).join('; ');
      logger.warn({ deviceId, cut }, 'programme cut to fit what a speaker accepts');
      void alarmRules.onProgramme(deviceId, `programme too large for the speaker, cut to fit: ${what}`, clock.now()).catch((err: unknown) => logger.error({ err, deviceId }, 'programme alarm update failed'));
    },
  });
  // A rotation step: sign with the new active key, and give online devices the new key list.
  signingKeys.onChange = async () => {
    await signer.reload();
    for (const id of mqtt.onlineDevices()) void dispatcher.resend(id, 'signing-keys');
  };
  const alertRepo = new AlertRepo(database);
  const library = new ContentLibrary({ areas, content: repos.content, media });
  const liveAnnouncements = new LiveService({ publisher: mqtt, signer, clock, logger, recorder: ffmpegLiveRecorder(media.tools.ffmpeg, join(options.dataDir, 'live'), logger) });
  const liveDesk = new LiveDesk({
    live: liveAnnouncements,
    sessions: new LiveSessionRepo(database),
    areas,
    devices,
    library,
    reports: repos.reports,
    clock,
    logger,
    nodeId: options.cluster ? nodeId : null,
    maxDurationMs: DEFAULT_LIVE_OPTIONS.maxDurationMs,
    endElsewhere: (sessionId) => cluster.bus?.publish({ t: 'live-end', sessionId }),
  });
  const reportIntake = new ReportIntake({ reports: repos.reports, issued: repos.issuedPlays, alerts: alertRepo, live: liveDesk, now });
  const alerts = new AlertService(
    {
      repo: alertRepo,
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
  const refresh = (deviceIds: Iterable<string>) => void dispatcher.refresh(deviceIds, 'change');
  const audit = new AuditRepo(database, nodeId);
  const rolloutRepo = new RolloutRepo(database);
  const releases = new ReleaseStore({ repo: rolloutRepo, dir: join(options.dataDir, 'releases'), keys: options.releaseKeys ?? [], clock });
  const rollouts = new RolloutService({
    repo: rolloutRepo,
    devices,
    publisher: mqtt,
    releaseUrl: (id) => `${options.publicHttpUrl()}/api/v1/releases/${id}/file`,
    clock,
    logger,
    // What a rollout does by itself is audited as the server's own action.
    audit: (action, target, detail) => audit.append({ at: new Date(clock.now()).toISOString(), userId: null, username: null, areaId: null, source: 'server', action, target, status: null, detail }),
  });
  const loginThrottle = new LoginThrottle(database, now);
  const outbox = new OutboxRepo(database, now);
  const { post, ...outboxOptions } = options.outbox ?? {};
  const outboxSender = new OutboxSender({ repo: outbox, clock, logger, ...(post ? { post } : {}) }, outboxOptions);
  if (options.alarmWebhook) {
    const webhook = new AlarmWebhook(options.alarmWebhook, { devices, areas, logger, outbox, sender: outboxSender });
    repos.alarms.on('change', (change) => webhook.notify(change));
  }
  const streamSources = new StreamSourceRepo(database, now);
  const scheduling = new ScheduleService({ ...repos, streamHosts: () => settings.streamHosts, clock, refresh });
  const presenceEvents = new EventEmitter<{ offline: [PresenceChange] }>();
  const webhookRepo = new WebhookRepo(database, now);
  const kick = () => outboxSender.kick();
  const webhookPublisher = new WebhookPublisher({ webhooks: webhookRepo, areas, outbox, kick, now, logger });
  connectWebhookSources(webhookPublisher, { schedules: scheduling.events, reports: reportIntake.events, alerts, presence: presenceEvents, devices, now });
  outboxSender.route(WEBHOOK_CHANNEL_PREFIX, webhookRoute(webhookRepo, { ...DEFAULT_WEBHOOK_DELIVERY, ...options.webhookDelivery }));
  const upstream = options.upstream
    ? new UpstreamConnector(
        {
          sources: { areas, devices, reports: repos.reports, schedules: repos.schedules, content: repos.content, alerts: alertRepo, isOnline: (id) => mqtt.isOnline(id) },
          outbox,
          sender: outboxSender,
          clock,
          logger,
          effectiveTimezone: (id) => areas.effectiveTimezone(id),
        },
        { source: nodeId, ...options.upstream },
      )
    : null;
  const alertDesk = new AlertDesk({ alerts, areas, devices, content: repos.content, library, clock });
  const bulletinRepo = new BulletinRepo(database, now);
  const bulletins = new BulletinService({ repo: bulletinRepo, areas, scheduling, alertDesk, library, audioHosts: () => settings.bulletinAudioHosts, clock, logger, ...(options.bulletinStartLeadMs !== undefined ? { startLeadMs: options.bulletinStartLeadMs } : {}) });
  const bulletinProgress = new BulletinProgress({
    repo: bulletinRepo,
    areas,
    devices,
    content: repos.content,
    schedules: repos.schedules,
    alerts,
    reports: repos.reports,
    audit,
    clock,
    logger,
    emit: (b) => bulletins.events.emit('outcome', b),
  });
  // Each state a bulletin reaches goes back to the system that sent it, through the outbox (once per move).
  bulletins.events.on('outcome', (b) => void upstream?.reportOutcome(b).catch((err: unknown) => logger.error({ err, bulletinId: b.id, state: b.state }, 'bulletin outcome not written to the outbox')));
  return {
    ...repos,
    store,
    database,
    clock,
    logger,
    mqtt,
    media,
    settings,
    loginThrottle,
    accounts: new AccountAdmin({ users: repos.users, sessions: repos.sessions, loginThrottle, areas }),
    serviceAccounts: new ServiceAccountAdmin({ repo: new ServiceAccountRepo(database, now), areas, now }),
    webhooks: new WebhookAdmin({ repo: webhookRepo, areas, outbox, publisher: webhookPublisher, kick, now }),
    presenceEvents,
    areaAdmin: new AreaAdmin({ areas, devices, refresh }),
    fleet: new DeviceFleet({ devices, commands: repos.commands, link: mqtt, refresh }),
    telemetry: new TelemetryHistory(database),
    library,
    catalogue: new ContentCatalogue({
      areas,
      content: repos.content,
      media,
      streamSources,
      streamHosts: () => settings.streamHosts,
      programmeContent: (deviceId) => desired.contentIdsFor(deviceId),
      alertContent: (deviceId, contentId) => alertRepo.deviceMayFetch(deviceId, contentId),
    }),
    streamSources,
    scheduling,
    desired,
    dispatcher,
    reportIntake,
    reportBatcher:
      options.reportBatching === false
        ? null
        : new ReportBatcher((entries) => reportIntake.acceptBatch(entries), clock, {
            windowMs: REPORT_BATCH_WINDOW_MS,
            maxReports: REPORT_BATCH_MAX,
            inFlight: REPORT_BATCHES_IN_FLIGHT[store.dialect],
            ...options.reportBatching,
          }),
    alarmRules,
    alerts,
    alertDesk,
    liveAnnouncements,
    liveDesk,
    audit,
    releases,
    rollouts,
    updateDesk: new UpdateDesk({ rollouts, areas, devices }),
    outbox,
    outboxSender,
    upstream,
    signingKeys,
    signer,
    cluster,
    bulletins,
    bulletinProgress,
  };
}
