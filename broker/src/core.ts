/**
 * The running server: the parts `wireServer` built (one database, the device-facing MQTT
 * broker, the media pipeline, the repositories and services), started and stopped together,
 * with each kind of device message routed to the feature that handles it. The console (HTTP)
 * sits on top of it and sees it through `ServerServices`, without the database.
 */
import { EventEmitter } from 'node:events';
import { every, type Clock, type ClockTimer, type Logger, type MessageOf, type PlayReport, type Repeating } from '@loalang/protocol';
import { sql } from 'kysely';
import type { Database, Store } from './store/database.js';
import type { AreaRepo } from './areas/areas.js';
import type { UserRepo } from './accounts/users.js';
import type { SessionRepo } from './accounts/sessions.js';
import type { LoginThrottle } from './accounts/login-throttle.js';
import type { DeviceRepo } from './devices/devices.js';
import type { DeviceFleet } from './devices/fleet.js';
import type { AreaAdmin } from './areas/area-admin.js';
import type { AccountAdmin } from './accounts/account-admin.js';
import type { ServiceAccountAdmin } from './accounts/service-account-admin.js';
import type { CommandRepo } from './devices/commands.js';
import type { DeviceEventRepo } from './devices/events.js';
import type { TelemetryHistory, TelemetryRetention } from './devices/telemetry-history.js';
import type { ContentRepo } from './content/content-repo.js';
import type { ContentLibrary } from './content/library.js';
import type { ContentCatalogue } from './content/catalogue.js';
import type { StreamSourceRepo } from './content/stream-sources.js';
import type { ScheduleRepo } from './schedules/schedules.js';
import type { ScheduleService } from './schedules/service.js';
import type { DesiredStateService } from './schedules/desired-state.js';
import type { Dispatcher } from './schedules/dispatcher.js';
import type { ReportRepo } from './reports/reports.js';
import { ISSUED_PLAYS_RETAIN_MS, type IssuedPlays } from './reports/issued-plays.js';
import type { ReportIntake } from './reports/intake.js';
import type { ReportBatcher } from './reports/batch-intake.js';
import type { MqttServer } from './mqtt/server.js';
import type { MediaPipeline } from './media/index.js';
import { UplinkRouter } from './mqtt/uplink-router.js';
import type { AlarmRepo } from './alarms/alarms.js';
import type { AlarmRules } from './alarms/rules.js';
import type { AlertService } from './alerts/service.js';
import type { AlertDesk } from './alerts/desk.js';
import type { ReleaseStore } from './updates/release-store.js';
import type { RolloutService } from './updates/rollouts.js';
import type { UpdateDesk } from './updates/update-desk.js';
import type { OutboxRepo } from './outbox/outbox.js';
import type { OutboxSender } from './outbox/sender.js';
import type { UpstreamConnector } from './upstream/connector.js';
import type { LiveService } from './live/service.js';
import type { LiveDesk } from './live/desk.js';
import type { AuditRepo } from './audit/audit.js';
import type { SigningKeys } from './signing/keys.js';
import type { DownlinkSigner } from './signing/signer.js';
import type { ClusterNode, ClusterStats } from './cluster/node.js';
import type { BusMessage } from './cluster/bus.js';
import type { AlarmChange } from './alarms/alarms.js';
import type { Alert } from './alerts/alerts.js';
import type { DeliveryEvent } from './alerts/service.js';
import type { PresenceChange } from './mqtt/contracts.js';
import type { BulletinService } from './bulletins/service.js';
import type { BulletinProgress } from './bulletins/progress.js';
import type { WebhookAdmin } from './webhooks/admin.js';
import { wireServer, type CoreOptions, type RuntimeSettings, type ServerParts } from './wiring.js';

export type { CoreOptions, RuntimeSettings, ServerParts } from './wiring.js';

/** The advisory lock of `exclusively`: "LoaS" (start), beside the migrations' "LoaL". */
const START_UP_LOCK = 0x4c6f6153;
/** Delivered outbox messages are kept a month, for the delivery logs. */
const OUTBOX_RETAIN_MS = 30 * 24 * 3600_000;

/**
 * What the console's live views show, from this node and (on a cluster) from every other
 * (issue 17): a device's presence or health, a command's result, alarms, alerts and deliveries,
 * rollouts.
 */
export type LiveEvents = {
  device: [deviceId: string];
  command: [deviceId: string, commandId: string];
  alarm: [AlarmChange];
  alert: [Alert];
  delivery: [DeliveryEvent];
  /** A rollout changed: its state or wave, or a device's state in it (issue 20). */
  rollout: [rolloutId: string];
};

/** The broker as the console sees it: presence, stats, and cutting a device off. */
export type MqttView = Pick<MqttServer, 'isOnline' | 'onlineDevices' | 'stats' | 'disconnectDevice'>;

/**
 * What the console (HTTP) may use: the services and repositories, never the database nor the
 * broker's publishing (commands go through `fleet`, alerts through `alerts`).
 */
export type ServerServices = Omit<ServerCore, 'store' | 'database' | 'mqtt' | 'start' | 'stop' | 'ingestReport' | 'cluster'> & { readonly mqtt: MqttView };

export class ServerCore {
  readonly store: Store;
  readonly database: Database;
  readonly mqtt: MqttServer;
  readonly media: MediaPipeline;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: RuntimeSettings;
  readonly areas: AreaRepo;
  /** The rules of the area tree: adding, moving, changing, removing areas within scope. */
  readonly areaAdmin: AreaAdmin;
  readonly users: UserRepo;
  readonly sessions: SessionRepo;
  readonly loginThrottle: LoginThrottle;
  /** The rules of user accounts for administrators. */
  readonly accounts: AccountAdmin;
  /** Service accounts' API keys (issue 21). */
  readonly serviceAccounts: ServiceAccountAdmin;
  /** Integrators' webhook subscriptions and their delivery log (issue 21). */
  readonly webhooks: WebhookAdmin;
  /**
   * A device went offline, recorded by this node (its connection here ended, or, on the leader,
   * the node it was on died): emitted once per change, never for changes other nodes relay.
   */
  readonly presenceEvents: ServerParts['presenceEvents'];
  readonly devices: DeviceRepo;
  /** Registering, changing and commanding devices, scope-checked. */
  readonly fleet: DeviceFleet;
  readonly commands: CommandRepo;
  readonly events: DeviceEventRepo;
  readonly telemetry: TelemetryHistory;
  readonly content: ContentRepo;
  /** Importing audio and speaking text into the library (the rules of content). */
  readonly library: ContentLibrary;
  /** Who may see, remove and fetch which content, and the named live sources. */
  readonly catalogue: ContentCatalogue;
  readonly streamSources: StreamSourceRepo;
  readonly schedules: ScheduleRepo;
  /** The rules of schedules: check, create, update, approve, remove. */
  readonly scheduling: ScheduleService;
  readonly desired: DesiredStateService;
  readonly dispatcher: Dispatcher;
  readonly reports: ReportRepo;
  readonly issuedPlays: IssuedPlays;
  /** Judges play reports against what was issued (stored once, or refused). */
  readonly reportIntake: ReportIntake;
  /** Collects the reports arriving over MQTT into batches for `reportIntake`; null: one at a time. */
  private readonly reportBatcher: ReportBatcher | null;
  readonly alarms: AlarmRepo;
  readonly alarmRules: AlarmRules;
  readonly alerts: AlertService;
  /** Issuing alerts for people: targets, scope, speech. */
  readonly alertDesk: AlertDesk;
  /** Live announcements (issue 18). */
  readonly liveAnnouncements: LiveService;
  /** Live announcements as callers see them (rights, tickets, speakers' states, records). */
  readonly liveDesk: LiveDesk;
  readonly audit: AuditRepo;
  /** Agent release bundles (issue 20) and their rollouts to the fleet. */
  readonly releases: ReleaseStore;
  readonly rollouts: RolloutService;
  /** Rollouts as technicians and admins see them (scope). */
  readonly updateDesk: UpdateDesk;
  /** What the server owes other systems (the HTTTN, webhooks), until delivered (decision 0030). */
  readonly outbox: OutboxRepo;
  /** Sends the outbox; it runs on the leader. */
  readonly outboxSender: OutboxSender;
  /** Reports to the province's HTTTN (issue 21); null when not configured. */
  readonly upstream: UpstreamConnector | null;
  readonly signingKeys: SigningKeys;
  readonly signer: DownlinkSigner;
  /** This server as a node: alone, or one of a cluster (issue 17). */
  readonly cluster: ClusterNode;
  /** Bulletins from upstream systems (issue 21 item 2): intake, views, and `events` ('outcome'). */
  readonly bulletins: BulletinService;
  /** The leader's periodic check that moves bulletins to their outcome. */
  readonly bulletinProgress: BulletinProgress;
  private pruner: Repeating | null = null;
  private firstPrune: ClockTimer | null = null;
  private deadNodeSweep: Repeating | null = null;
  /** The leader's work being started (awaited by start()), or null when this node does not lead. */
  private leading: Promise<void> | null = null;
  mqttPort = 0;
  /** Downlinks devices refused, by reason (decision 0016), for /metrics. */
  readonly refusals = new Map<string, number>();
  /**
   * What changed, for live views (the console's event stream): a device's presence or health,
   * a command's result. Alarms and alerts have their own emitters (`alarms`, `alerts`).
   */
  readonly changes = new EventEmitter<{ device: [deviceId: string]; command: [deviceId: string, commandId: string] }>().setMaxListeners(0);
  /** Everything the console's live views show, from this node and the others of a cluster. */
  readonly live = new EventEmitter<LiveEvents>().setMaxListeners(0);

  constructor(parts: ServerParts) {
    this.store = parts.store;
    this.database = parts.database;
    this.mqtt = parts.mqtt;
    this.media = parts.media;
    this.clock = parts.clock;
    this.logger = parts.logger;
    this.settings = parts.settings;
    this.areas = parts.areas;
    this.areaAdmin = parts.areaAdmin;
    this.accounts = parts.accounts;
    this.serviceAccounts = parts.serviceAccounts;
    this.webhooks = parts.webhooks;
    this.presenceEvents = parts.presenceEvents;
    this.users = parts.users;
    this.sessions = parts.sessions;
    this.loginThrottle = parts.loginThrottle;
    this.devices = parts.devices;
    this.fleet = parts.fleet;
    this.commands = parts.commands;
    this.events = parts.events;
    this.telemetry = parts.telemetry;
    this.content = parts.content;
    this.library = parts.library;
    this.catalogue = parts.catalogue;
    this.streamSources = parts.streamSources;
    this.schedules = parts.schedules;
    this.scheduling = parts.scheduling;
    this.desired = parts.desired;
    this.dispatcher = parts.dispatcher;
    this.reports = parts.reports;
    this.issuedPlays = parts.issuedPlays;
    this.reportIntake = parts.reportIntake;
    this.reportBatcher = parts.reportBatcher;
    this.alarms = parts.alarms;
    this.alarmRules = parts.alarmRules;
    this.alerts = parts.alerts;
    this.alertDesk = parts.alertDesk;
    this.liveAnnouncements = parts.liveAnnouncements;
    this.liveDesk = parts.liveDesk;
    this.audit = parts.audit;
    this.releases = parts.releases;
    this.rollouts = parts.rollouts;
    this.outbox = parts.outbox;
    this.outboxSender = parts.outboxSender;
    this.upstream = parts.upstream;
    this.updateDesk = parts.updateDesk;
    this.signingKeys = parts.signingKeys;
    this.signer = parts.signer;
    this.cluster = parts.cluster;
    this.bulletins = parts.bulletins;
    this.bulletinProgress = parts.bulletinProgress;
    this.relayLiveEvents();
  }

  /** This node's events go to its live views and, on a cluster, to the other nodes' (the bus). */
  private relayLiveEvents(): void {
    const bus = this.cluster.bus;
    const share = (m: BusMessage) => bus?.publish(m);
    this.changes.on('device', (deviceId) => {
      this.live.emit('device', deviceId);
      share({ t: 'device', deviceId });
    });
    this.changes.on('command', (deviceId, commandId) => {
      this.live.emit('command', deviceId, commandId);
      share({ t: 'command', deviceId, commandId });
    });
    this.alarms.on('change', (change) => {
      this.live.emit('alarm', change);
      share({ t: 'alarm', change });
    });
    this.alerts.on('alert', (alert) => {
      this.live.emit('alert', alert);
      share({ t: 'alert', alert });
    });
    this.alerts.on('delivery', (event) => {
      this.live.emit('delivery', event);
      share({ t: 'delivery', event });
    });
    const rolloutChanged = (rolloutId: string) => {
      this.live.emit('rollout', rolloutId);
      share({ t: 'rollout', rolloutId });
    };
    this.rollouts.on('rollout', (r) => rolloutChanged(r.id));
    this.rollouts.on('device', (d) => rolloutChanged(d.rolloutId));
  }

  /** What another node of the cluster said. */
  private onClusterMessage(m: BusMessage, node: string): void {
    switch (m.t) {
      case 'presence':
        this.cluster.remote.change(m.deviceId, node, m.online);
        return;
      case 'node-lost':
        // This node, taken for dead (its heartbeat stalled): its speakers are still here.
        if (m.node === this.cluster.nodeId) this.reassertPresence();
        else this.cluster.remote.nodeLost(m.node);
        return;
      case 'disconnect':
        this.mqtt.disconnectHere(m.deviceId);
        return;
      case 'device':
        this.live.emit('device', m.deviceId);
        return;
      case 'command':
        this.live.emit('command', m.deviceId, m.commandId);
        return;
      case 'alarm':
        this.live.emit('alarm', m.change);
        return;
      case 'alert':
        this.live.emit('alert', m.alert);
        return;
      case 'delivery':
        this.live.emit('delivery', m.event);
        return;
      case 'rollout':
        this.live.emit('rollout', m.rolloutId);
        return;
      case 'live-status':
        this.liveDesk.onStatus(m.deviceId, m.status);
        return;
      case 'live-end':
        this.liveDesk.endHere(m.sessionId);
        return;
    }
  }

  static async create(options: CoreOptions): Promise<ServerCore> {
    return new ServerCore(await wireServer(options));
  }

  /** Hosts schedules may relay streams from; null: any http(s) host. */
  get streamHosts(): readonly string[] | null {
    return this.settings.streamHosts;
  }
  set streamHosts(hosts: readonly string[] | null) {
    this.settings.streamHosts = hosts;
  }
  get capSenders(): readonly string[] {
    return this.settings.capSenders;
  }
  set capSenders(senders: readonly string[]) {
    this.settings.capSenders = senders;
  }
  get capAudioHosts(): readonly string[] {
    return this.settings.capAudioHosts;
  }
  set capAudioHosts(hosts: readonly string[]) {
    this.settings.capAudioHosts = hosts;
  }
  get bulletinAudioHosts(): readonly string[] {
    return this.settings.bulletinAudioHosts;
  }
  set bulletinAudioHosts(hosts: readonly string[]) {
    this.settings.bulletinAudioHosts = hosts.map((h) => h.toLowerCase());
  }
  get telemetryRetention(): TelemetryRetention {
    return this.settings.telemetryRetention;
  }
  set telemetryRetention(retention: TelemetryRetention) {
    this.settings.telemetryRetention = retention;
  }

  async start(): Promise<void> {
    const { bus, registry, leadership } = this.cluster;
    if (registry && bus) {
      await registry.join();
      bus.on('message', (m, node) => this.onClusterMessage(m, node));
      // Messages may have been lost while Redis was away: the database has the truth.
      bus.on('reconnected', () => void this.catchUpAfterRedis());
      // Back from a database outage long enough for the leader to take this node for dead.
      registry.onRecovered = () => this.reassertPresence();
      await bus.start();
      await this.loadPresenceElsewhere();
    }
    // A single server: nobody is connected yet. A node of a cluster: none of this node's devices.
    await this.devices.markAllOffline('server-start', this.clock.now());
    this.mqtt.on('presence', (change) => {
      if (change.online) this.cluster.remote.here(change.deviceId);
      bus?.publish({ t: 'presence', deviceId: change.deviceId, online: change.online });
      // In order per device (setPresence keeps them so): an "offline" written before the "online" it follows would stick.
      void this.devices
        .setPresence(change.deviceId, change.online, change.cause, change.at)
        .then((changed) => changed && !change.online && this.presenceEvents.emit('offline', change))
        .catch((err: unknown) => this.logger.error({ err, deviceId: change.deviceId }, 'presence not recorded'));
      this.afterPresence(change);
    });
    // Sent when the device subscribes, not on connect: before that, a clean session would drop it.
    this.mqtt.on('listening', (deviceId) => {
      void this.dispatcher.resend(deviceId, 'online');
      void this.alerts.onListening(deviceId).catch((err: unknown) => this.logger.error({ err, deviceId }, 'alerts not replayed to a device that came back'));
      void this.rollouts.onConnect(deviceId).catch((err: unknown) => this.logger.error({ err, deviceId }, 'update offer not sent again to a device that came back'));
    });
    const uplinks = this.routeUplinks();
    this.mqtt.on('uplink', (msg) => void uplinks.dispatch(msg));
    // Acknowledged by the broker once this returns: the report is stored (or refused for good).
    this.mqtt.handleReports(async (deviceId, report) => this.ingestReport(deviceId, report));
    const { port } = await this.mqtt.start();
    this.mqttPort = port;
    // The work that must happen once happens on the leader (alone: this server, at once).
    leadership.on('acquired', () => {
      this.leading = this.startLeading().catch((err: unknown) => this.logger.error({ err }, 'leader work did not start'));
    });
    leadership.on('lost', () => this.stopLeading());
    await leadership.start();
    await this.leading;
  }

  private async loadPresenceElsewhere(): Promise<void> {
    try {
      this.cluster.remote.replaceAll(await this.devices.onlineElsewhere());
    } catch (err) {
      this.logger.warn({ err }, 'presence on the other nodes not read');
    }
  }

  /**
   * Redis is back: presence on the other nodes is read again, and this node's speakers get what
   * other nodes may have sent them meanwhile (a newer programme, an alert they did not confirm).
   */
  private async catchUpAfterRedis(): Promise<void> {
    await this.loadPresenceElsewhere();
    try {
      const behind = (await this.devices.behindHere()).filter((id) => this.mqtt.isOnlineHere(id));
      for (const id of behind) void this.dispatcher.resend(id, 'redis-back');
      const alerts = await this.alerts.replayUnconfirmed((id) => this.mqtt.isOnlineHere(id));
      if (behind.length + alerts > 0) this.logger.info({ programmes: behind.length, alerts }, 'Redis is back: programmes and alerts sent again to this node\'s speakers that may have missed them');
    } catch (err) {
      this.logger.error({ err }, 'catching up after Redis was away failed');
    }
  }

  /** Records again as online under this node every device connected to it (a no-op for those already so). */
  private reassertPresence(): void {
    for (const deviceId of this.mqtt.onlineHereIds()) {
      // The instant it connected, not now: a newer connection of it to another node must keep it.
      const at = this.mqtt.onlineHereSince(deviceId) ?? this.clock.now();
      void this.devices
        .setPresence(deviceId, true, 'node-back', at)
        .then((changed) => {
          if (!changed) return;
          this.cluster.bus?.publish({ t: 'presence', deviceId, online: true });
          this.afterPresence({ deviceId, online: true, at, cause: 'node-back' });
        })
        .catch((err: unknown) => this.logger.error({ err, deviceId }, 'presence not recorded'));
    }
  }

  /** What follows a device coming or going, wherever it was connected. */
  private afterPresence(change: PresenceChange): void {
    void this.alarmRules.onPresence(change.deviceId, change.online, change.at).catch((err: unknown) => this.logger.error({ err, deviceId: change.deviceId }, 'offline alarm update failed'));
    void this.alerts.onPresence(change.deviceId, change.online).catch((err: unknown) => this.logger.error({ err, deviceId: change.deviceId }, 'alert deliveries not updated for presence'));
    this.changes.emit('device', change.deviceId);
  }

  /** The leader's work: the programme dispatch, alarm sweeps, alert expiry, retention, and the devices of dead nodes. */
  private async startLeading(): Promise<void> {
    this.dispatcher.start();
    this.alarmRules.start();
    await this.alerts.armExpiries();
    this.rollouts.start();
    this.outboxSender.start();
    this.upstream?.start();
    this.bulletinProgress.start();
    // Retention: once soon after start, then hourly; batched, so requests are served meanwhile.
    const prune = () => {
      void this.telemetry.prune(this.clock.now(), this.telemetryRetention).then(
        (n) => n.raw + n.hourly > 0 && this.logger.info(n, 'old telemetry pruned'),
        (err: unknown) => this.logger.error({ err }, 'telemetry pruning failed'),
      );
      void (async () => {
        try {
          const issuedPlays = await this.issuedPlays.prune(this.clock.now() - ISSUED_PLAYS_RETAIN_MS);
          const loginSources = await this.loginThrottle.prune();
          const outbox = await this.outbox.prune(this.clock.now() - OUTBOX_RETAIN_MS);
          if (issuedPlays + loginSources + outbox > 0) this.logger.info({ issuedPlays, loginSources, outbox }, 'old issued plays, login sources and delivered outbox messages pruned');
        } catch (err) {
          this.logger.error({ err }, 'pruning issued plays or login sources failed');
        }
      })();
    };
    this.pruner = every(this.clock, 3600_000, prune);
    this.firstPrune = this.clock.setTimeout(prune, 60_000);
    const registry = this.cluster.registry;
    if (registry) {
      const sweep = () => void this.sweepDeadNodes().catch((err: unknown) => this.logger.error({ err }, 'devices of dead nodes not swept'));
      this.deadNodeSweep = every(this.clock, registry.timings.heartbeatMs, sweep);
    }
  }

  private stopLeading(): void {
    this.leading = null;
    this.dispatcher.stop();
    this.alarmRules.stop();
    void this.outboxSender.stop();
    this.upstream?.stop();
    void this.bulletinProgress.stop();
    this.pruner?.stop();
    this.pruner = null;
    if (this.firstPrune) this.clock.clearTimeout(this.firstPrune);
    this.firstPrune = null;
    this.deadNodeSweep?.stop();
    this.deadNodeSweep = null;
  }

  /**
   * A node that stopped writing its heartbeat is dead (killed, or cut off from the database):
   * its devices are offline until they connect to another node, which most do within seconds.
   */
  private async sweepDeadNodes(): Promise<void> {
    const registry = this.cluster.registry;
    if (!registry) return;
    for (const node of await registry.deadNodesWithDevices()) {
      if (node === this.cluster.nodeId) continue; // sweeping, so alive (its heartbeat is late)
      const at = this.clock.now();
      const gone = await this.devices.markAllOffline('node-lost', at, node, false);
      this.cluster.remote.nodeLost(node);
      this.cluster.bus?.publish({ t: 'node-lost', node });
      this.logger.warn({ node, devices: gone.length }, 'a server node stopped: its devices are offline until they connect to another node');
      for (const deviceId of gone) {
        this.afterPresence({ deviceId, online: false, at, cause: 'node-lost' });
        this.presenceEvents.emit('offline', { deviceId, online: false, at, cause: 'node-lost' });
      }
    }
  }

  /** Each feature's handler per uplink kind; the MQTT layer answers time probes itself. */
  private routeUplinks(): UplinkRouter {
    return new UplinkRouter(this.logger)
      // The agent's retained status (and its will) is for other MQTT subscribers: the server
      // takes presence from the connection itself (MqttServer's presence), so nothing to do.
      .on('status', () => undefined)
      .on('telemetry', async (deviceId, t) => {
        await this.devices.recordTelemetry(deviceId, t);
        await this.telemetry.record(deviceId, t, this.clock.now());
        await this.alarmRules.onTelemetry(deviceId, t);
        this.changes.emit('device', deviceId);
      })
      .on('cmd/result', async (deviceId, result) => {
        if (await this.commands.complete(deviceId, result)) this.changes.emit('command', deviceId, result.commandId);
      })
      .on('alert/status', (deviceId, status) => this.alerts.onStatus(deviceId, status))
      .on('update/status', async (deviceId, status) => {
        await this.rollouts.onStatus(deviceId, status);
        this.changes.emit('device', deviceId);
      })
      .on('live/status', (deviceId, status) => {
        // The node feeding the session may be another one: it hears of its speakers over the bus.
        this.liveDesk.onStatus(deviceId, status);
        this.cluster.bus?.publish({ t: 'live-status', deviceId, status });
      })
      .on('refused', (deviceId, refusal) => this.onRefusal(deviceId, refusal))
      .on('event', async (deviceId, e) => {
        if (!(await this.events.insert(deviceId, e))) return;
        this.logger[e.active ? 'warn' : 'info']({ deviceId, kind: e.kind, code: e.code, detail: e.detail }, e.active ? 'device raised a condition' : 'device cleared a condition');
        await this.alarmRules.onEvent(deviceId, e);
      })
      .on('reported', async (deviceId, reported) => {
        await this.devices.recordReported(deviceId, reported.version, reported.agentVersion, reported.arch);
        this.changes.emit('device', deviceId);
        const { state, cut } = await this.desired.refresh(deviceId);
        if (reported.version < state.version) await this.dispatcher.resend(deviceId, 'reported-behind');
        else if (cut.length === 0) await this.alarmRules.onProgramme(deviceId, null, this.clock.now());
      });
  }

  /**
   * A play report: stored once if it agrees with what the device was given, then fed to the
   * alarm rules and the alert board; refused otherwise (counted, kept, audited). Either way the
   * device gets its ack (sent by the broker when this resolves), so its outbox drains. Stored
   * in a batch with the reports arriving at the same moment (reports/batch-intake.ts); this
   * resolves once that batch is committed, and rejects (no ack) when it failed.
   */
  async ingestReport(deviceId: string, report: PlayReport): Promise<void> {
    const result = await (this.reportBatcher ? this.reportBatcher.accept(deviceId, report) : this.reportIntake.accept(deviceId, report));
    if (result.outcome === 'stored') {
      void this.alarmRules.onReport(deviceId, report).catch((err: unknown) => this.logger.error({ err, deviceId }, 'play report alarm rules failed'));
      // Only an alert's repetition can move an alert's delivery: a programme play's scheduleId
      // names a schedule, which the alert board would look up among alerts and not find (that
      // lookup, one query per report, was most of the cost of a crowd of reports).
      if (result.alert) await this.alerts.onReport(deviceId, report);
      return;
    }
    if (result.outcome !== 'refused' || !result.record) return;
    this.logger.warn({ deviceId, reportId: report.reportId, playId: report.playId, refusal: result.refusal, detail: result.detail }, 'play report refused');
    const budget = this.reportIntake.auditBudget(deviceId);
    if (!budget.record) return;
    const { reportId, playId, scheduleId, contentId, status, playedMs } = report;
    await this.auditDevice(deviceId, 'report-refused', { refusal: result.refusal, reason: result.detail, report: { reportId, playId, scheduleId, contentId, status, playedMs }, ...(budget.suppressed ? { suppressed: budget.suppressed } : {}) });
  }

  /** How the reports from MQTT were batched so far (null: batching is off), for benchmarks and metrics. */
  reportBatchStats(): ReturnType<ReportBatcher['stats']> | null {
    return this.reportBatcher?.stats() ?? null;
  }

  /** An audit entry for something a device did, under the device's area. */
  private async auditDevice(deviceId: string, action: string, detail: unknown): Promise<void> {
    const areaId = (await this.devices.get(deviceId))?.areaId ?? null;
    await this.audit.append({
      at: new Date(this.clock.now()).toISOString(),
      userId: null,
      username: null,
      areaId,
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
    if (r.kind === 'desired') {
      void this.alarmRules
        .onProgramme(deviceId, `the speaker refused its programme: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`, this.clock.now())
        .catch((err: unknown) => this.logger.error({ err, deviceId }, 'programme alarm update failed'));
    }
    this.logger.warn({ deviceId, kind: r.kind, reason: r.reason, detail: r.detail, seq: r.seq, kid: r.kid, suppressed: r.suppressed }, 'device refused a downlink');
    void this.auditDevice(deviceId, 'device-refused-downlink', r).catch((err: unknown) => this.logger.error({ err, deviceId }, 'audit entry not written'));
  }

  /**
   * Runs `work` while no other node of the cluster runs work under this lock (a PostgreSQL
   * advisory lock held by a transaction): nodes that start together make the first
   * administrator and the root area once. Alone on SQLite, it just runs.
   */
  async exclusively<T>(work: () => Promise<T>): Promise<T> {
    if (this.store.dialect !== 'postgres') return work();
    return this.database.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${START_UP_LOCK})`.execute(trx);
      return work();
    });
  }

  /** This node: its name, whether it leads, and what it shared with the other nodes (for /healthz and /metrics). */
  clusterStats(): ClusterStats {
    return this.cluster.stats();
  }

  /** Rejects when the database does not answer (liveness). */
  async pingDatabase(): Promise<void> {
    await sql`SELECT 1`.execute(this.database);
  }

  /** Call after schedules or devices change: recomputes and sends what changed; resolves when done. */
  refreshDevices(deviceIds: Iterable<string>): Promise<void> {
    return this.dispatcher.refresh(deviceIds, 'change');
  }

  async stop(): Promise<void> {
    await this.cluster.leadership.stop();
    await this.outboxSender.stop();
    this.rollouts.stop();
    await this.bulletinProgress.stop();
    await this.alerts.stop();
    this.liveAnnouncements.stopAll();
    await this.liveDesk.settled();
    await this.cluster.registry?.leave().catch((err: unknown) => this.logger.warn({ err }, 'leaving the cluster not recorded'));
    await this.mqtt.stop();
    await this.cluster.bus?.stop();
    // Reports already taken in are stored (and their acks dropped: the broker is closed) before the database closes.
    await this.reportBatcher?.drain();
    await this.store.close();
  }
}
