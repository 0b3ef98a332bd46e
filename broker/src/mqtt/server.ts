/**
 * The device-facing MQTT broker: Aedes 1.x on TCP with per-device authentication, topic
 * ACLs, presence, validation of every uplink payload, and application-level report acks.
 */
import { createServer, type Server, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import {
  areaTopic,
  deviceTopic,
  SERVER_FEATURES,
  silentLogger,
  systemClock,
  type Clock,
  type DownlinkKind,
  type Logger,
  type MessageKind,
  type MessageOf,
} from '@loalang/protocol';
import { canPublish, canSubscribe, topicMatches } from './acl.js';
import { installEncodedPublish } from './encoded-publish.js';
import { Presence } from './presence.js';
import { guardPacketSize, MAX_PACKET_BYTES } from './packet-guard.js';
import { UplinkIntake, type IntakeStats } from './uplink.js';
import { ReportAcks } from './report-acks.js';
import type { DeviceDirectory, DeviceIdentity, DownlinkPublisher, DownlinkSealer, PresenceChange, ReportHandler, UplinkMessage } from './contracts.js';

export interface MqttServerOptions {
  host?: string;
  port: number;
  directory: DeviceDirectory;
  logger?: Logger;
  clock?: Clock;
  /**
   * How long a subscriber's full socket may block delivery before it is cut off. A frozen
   * 4G client otherwise stalls delivery to everyone (Aedes docs); 4G stalls of a few seconds
   * are normal, so 10 s keeps healthy-but-slow links and drops dead ones.
   */
  drainTimeoutMs?: number;
  /** Longest keepalive a client may ask for (s); longer is refused so dead links are found. */
  keepaliveLimitSec?: number;
  /** Largest MQTT packet a client may send; a connection announcing a larger one is closed. */
  maxPacketBytes?: number;
  /** MQTT over TLS (PEM certificate chain and key); absent: plain TCP. */
  tls?: TlsMaterial;
  /** Signs every downlink (decision 0016); there is no unsigned mode. */
  signer: DownlinkSealer;
  /**
   * On a node of a cluster (issue 17): Aedes' id (the node's), its message emitter (shared
   * through Redis, cluster/routed-emitter.ts), the devices connected to the other nodes, and
   * how to ask the others to cut a device off.
   */
  cluster?: {
    nodeId: string;
    mq: (isHere: (deviceId: string) => boolean) => object;
    elsewhere: { has(deviceId: string): boolean; ids(): string[] };
    disconnectElsewhere(deviceId: string): void;
  };
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface MqttStats extends IntakeStats {
  connectedClients: number;
  refusedPublishes: number;
  refusedSubscribes: number;
  authFailures: number;
  messagesOut: number;
  oversizePackets: number;
}

const BAD_CREDENTIALS = 4;
const SERVER_UNAVAILABLE = 3;

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** `listening`: the device subscribed to its own downlinks, so what we publish now reaches it. */
type MqttServerEvents = { presence: [PresenceChange]; uplink: [UplinkMessage]; listening: [string] };

/**
 * Connections waiting to be accepted. When a node dies, thousands of its speakers connect to the
 * others within seconds; Node's default (511) overflowed in that storm, the kernel reset
 * connections ("Possible SYN flooding") and each reset speaker backed off for up to a minute
 * (issue 17, bench/cluster-fanout.mjs). The kernel caps it at net.core.somaxconn (4096 on Debian 12).
 */
export const MQTT_LISTEN_BACKLOG = 8192;

export class MqttServer extends EventEmitter<MqttServerEvents> implements DownlinkPublisher {
  private readonly identities = new WeakMap<Client, DeviceIdentity>();
  private readonly presence: Presence;
  private readonly intake: UplinkIntake;
  private counters = { refusedPublishes: 0, refusedSubscribes: 0, authFailures: 0, messagesOut: 0, oversizePackets: 0 };
  private server: Server | null = null;
  /** Every connection accepted and not yet closed, logged in or not: stop() ends them all. */
  private readonly sockets = new Set<Socket>();
  /** Areas whose alert topic each connected device has subscribed to. */
  private readonly areaListeners = new Map<string, Set<string>>();
  /** Stores play reports; until one is set, reports are not acknowledged and agents resend them. */
  private reportHandler: ReportHandler | null = null;
  private readonly reportAcks: ReportAcks;
  /**
   * Aedes delivers to a client only a message whose counter is above the last it delivered from
   * the same broker id (its guard against one message matching two subscriptions). The counter
   * is given when a message is published, but a QoS 1 message first waits for Aedes' offline
   * queue, and on a cluster an area's message goes round Redis while a local device's does not:
   * a later message could reach a device first, and the earlier one was dropped without a word
   * (aedes#994: a command lost behind an alert on one server; on a cluster, live frames or an
   * alert lost behind a device's own message). So each lane in which messages keep their order
   * gets its own broker id: this start (a counter that starts again at a restart must not fall
   * below what the devices saw), then QoS and device or area topic (`publish`).
   */
  private readonly laneIdPrefix: string;

  private constructor(
    private readonly aedes: Aedes,
    private readonly options: MqttServerOptions,
    private readonly logger: Logger,
    clock: Clock,
  ) {
    super();
    this.laneIdPrefix = `${aedes.id}~${randomBytes(4).toString('hex')}~`;
    this.presence = new Presence(clock, (change) => this.emit('presence', change));
    this.reportAcks = new ReportAcks((deviceId, ack) =>
      this.publishToDevice(deviceId, 'report/ack', ack).catch((err: unknown) => logger.warn({ err, deviceId }, 'report ack publish failed')),
    );
    this.intake = new UplinkIntake({
      logger,
      now: () => clock.now(),
      onUplink: (m) => {
        // Time probes are answered here, at once and at QoS 0: a late reply is a wrong reply.
        if (m.kind === 'time') {
          const reply = { v: 1 as const, t0: m.message.t0, t1: m.receivedAt, t2: clock.now(), features: [...SERVER_FEATURES] };
          this.publish(deviceTopic(m.deviceId, 'time/reply'), options.signer.seal('time/reply', `dev/${m.deviceId}`, reply), 0, 'dev').catch(() => undefined);
          return;
        }
        if (m.kind === 'status') this.reportAcks.setAcceptsMany(m.deviceId, m.message.state === 'online' && (m.message.features ?? []).includes('report-ack-many'));
        this.emit('uplink', m);
      },
      onReport: (deviceId, report) => {
        const handler = this.reportHandler;
        if (!handler) {
          logger.warn({ deviceId, reportId: report.reportId }, 'report arrived before the server handles reports; no ack, the agent will resend');
          return;
        }
        handler(deviceId, report).then(
          () => this.reportAcks.ack(deviceId, report.reportId),
          (err: unknown) => logger.error({ err, deviceId, reportId: report.reportId }, 'report not stored; no ack, the agent will resend'),
        );
      },
    });
  }

  /** Who stores play reports: each is acknowledged to its device once the handler resolves. */
  handleReports(handler: ReportHandler): void {
    this.reportHandler = handler;
  }

  static async create(options: MqttServerOptions): Promise<MqttServer> {
    installEncodedPublish();
    const logger = options.logger ?? silentLogger;
    let server: MqttServer | null = null;
    const cluster = options.cluster;
    const aedes = await Aedes.createBroker({
      ...(cluster ? { id: cluster.nodeId, mq: cluster.mq((deviceId) => server?.isOnlineHere(deviceId) ?? false) } : {}),
      drainTimeout: options.drainTimeoutMs ?? 10_000,
      keepaliveLimit: options.keepaliveLimitSec ?? 300,
      maxClientsIdLength: 64,
      maxTopicLevels: 16,
      connectTimeout: 15_000,
      // No cap on messages in flight inside the broker (Aedes' default is 100). Past the cap,
      // mqemitter queues messages and, as each slot frees, handles the next one recursively:
      // a burst of inbound reports queued behind a burst of acks (a batch of reports committed
      // at once) then overflowed the stack and killed the process (mqemitter PR #204, open).
      // The cap bounds nothing we need: a queued message is held in memory just the same.
      concurrency: 0,
    });
    server = new MqttServer(aedes, options, logger, options.clock ?? systemClock);
    server.installHooks();
    return server;
  }

  private installHooks(): void {
    const { aedes, logger } = this;
    aedes.authenticate = (client, username, password, done) => {
      if (!username || !password || username !== client.id) {
        this.counters.authFailures++;
        done(authError('bad credentials', BAD_CREDENTIALS), false);
        return;
      }
      this.options.directory.verify(username, password).then(
        (identity) => {
          if (!identity) {
            this.counters.authFailures++;
            logger.info({ clientId: client.id }, 'device refused: wrong credentials');
            done(authError('bad credentials', BAD_CREDENTIALS), false);
            return;
          }
          this.identities.set(client, identity);
          this.presence.connecting(identity.deviceId, client);
          this.reportAcks.setAcceptsMany(identity.deviceId, false); // until this connection's online status says so
          done(null, true);
        },
        (err: unknown) => {
          logger.error({ err, clientId: client.id }, 'device directory failed');
          done(authError('server unavailable', SERVER_UNAVAILABLE), false);
        },
      );
    };
    aedes.authorizePublish = (client, packet, callback) => {
      if (!client) return callback(null); // the broker's own publishes (e.g. obsolete wills)
      const identity = this.identities.get(client);
      if (identity && canPublish(identity, packet.topic, packet.retain)) return callback(null);
      this.counters.refusedPublishes++;
      logger.warn({ clientId: client.id, topic: packet.topic }, 'publish refused by ACL; connection closed');
      // MQTT 3.1.1 has no negative PUBACK: Aedes closes the connection (MQTT-3.3.5-2).
      callback(new Error('publish not authorised'));
    };
    aedes.authorizeSubscribe = (client, sub, callback) => {
      const identity = this.identities.get(client);
      if (identity && canSubscribe(identity, sub.topic)) return callback(null, sub);
      this.counters.refusedSubscribes++;
      logger.warn({ clientId: client.id, topic: sub.topic }, 'subscription refused by ACL');
      callback(null, null); // SUBACK 0x80 for this filter; the connection stays
    };
    aedes.published = (packet: AedesPublishPacket, client: Client | null, done) => {
      const identity = client ? this.identities.get(client) : undefined;
      if (identity) {
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        this.intake.accept(identity.deviceId, packet.topic, payload);
      }
      done(null);
    };
    aedes.on('clientReady', (client) => {
      const identity = this.identities.get(client);
      if (identity) this.presence.ready(identity.deviceId, client);
    });
    aedes.on('subscribe', (subscriptions, client) => {
      const identity = client ? this.identities.get(client) : undefined;
      if (!identity) return;
      const desired = deviceTopic(identity.deviceId, 'desired');
      // Refused filters are listed too, with QoS 128 (Aedes docs).
      const granted = subscriptions.filter((s) => (s.qos as number) !== 128);
      for (const areaId of identity.areaIds) {
        if (!granted.some((s) => topicMatches(s.topic, areaTopic(areaId, 'alert')))) continue;
        const set = this.areaListeners.get(identity.deviceId) ?? new Set<string>();
        set.add(areaId);
        this.areaListeners.set(identity.deviceId, set);
      }
      if (granted.some((s) => topicMatches(s.topic, desired))) this.emit('listening', identity.deviceId);
    });
    aedes.on('unsubscribe', (topics, client) => {
      const identity = client ? this.identities.get(client) : undefined;
      const set = identity ? this.areaListeners.get(identity.deviceId) : undefined;
      if (identity && set) for (const areaId of identity.areaIds) if (topics.includes(areaTopic(areaId, 'alert'))) set.delete(areaId);
    });
    // A half-open link (a frozen box, a 4G cell that dropped without a FIN) never sends a last
    // will: the broker notices the missing keepalive pings (1.5× the keepalive) and closes it.
    const silent = new WeakSet<Client>();
    aedes.on('keepaliveTimeout', (client) => silent.add(client));
    const cause = (client: Client) => (silent.has(client) ? 'missed-heartbeats' : 'disconnect');
    aedes.on('clientDisconnect', (client) => {
      const identity = this.identities.get(client);
      if (identity && this.presence.clientOf(identity.deviceId) === client) {
        this.areaListeners.delete(identity.deviceId);
        this.reportAcks.setAcceptsMany(identity.deviceId, false);
      }
      if (identity) this.presence.gone(identity.deviceId, client, cause(client));
    });
    aedes.on('clientError', (client, err) => {
      logger.debug({ clientId: client.id, err: err.message }, 'client error');
      const identity = this.identities.get(client);
      if (identity && client.closed) this.presence.gone(identity.deviceId, client, cause(client));
    });
  }

  async start(): Promise<{ port: number }> {
    const max = this.options.maxPacketBytes ?? MAX_PACKET_BYTES;
    const accept = (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.aedes.handle(socket);
      guardPacketSize(socket, max, (announced) => {
        this.counters.oversizePackets++;
        this.logger.warn({ remote: socket.remoteAddress, announced, max }, 'MQTT packet over the size limit: connection closed');
      });
    };
    const tls = this.options.tls;
    // A failed TLS handshake (a device without the CA, a scanner) is logged at debug and dropped.
    const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, accept).on('tlsClientError', (err) => this.logger.debug({ err: err.message }, 'TLS handshake failed')) : createServer(accept);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.options.port, host: this.options.host ?? '0.0.0.0', backlog: MQTT_LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { port: (server.address() as AddressInfo).port };
  }

  /**
   * Stops listening first, then closes every client, then ends whatever connection is left (one
   * still logging in). The other way round, speakers reconnecting at once (as they do, by
   * thousands) were accepted after the clients were closed and held the stop until their own
   * connect timeout: 120 s with 10,000 (bench/restart-storm.mjs).
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await this.reportAcks.flush();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  publishToDevice<K extends MessageKind>(deviceId: string, kind: K, message: MessageOf<K>): Promise<void> {
    return this.publish(deviceTopic(deviceId, kind as DownlinkKind), this.options.signer.seal(kind, `dev/${deviceId}`, message), 1, 'dev');
  }

  /** A live session's frame group (already signed, live.ts), to an area's speakers: QoS 0, as alerts. */
  publishLiveAudio(areaId: string, group: Buffer): Promise<void> {
    return this.publish(areaTopic(areaId, 'live/audio'), group, 0, 'area');
  }

  publishToArea(areaId: string, kind: 'alert' | 'cmd' | 'live', payload: object): Promise<void> {
    // QoS 0 for area fan-out: one queue entry per subscriber at QoS 1 is what Aedes'
    // maintainers advise against; delivery is confirmed at the application level.
    return this.publish(areaTopic(areaId, kind), this.options.signer.seal(kind, `area/${areaId}`, payload), 0, 'area');
  }

  private publish(topic: string, payload: Buffer, qos: 0 | 1, to: 'dev' | 'area'): Promise<void> {
    const brokerId = `${this.laneIdPrefix}${qos}${to}`;
    return new Promise((resolve, reject) => {
      // brokerId: Aedes keeps a packet's own (aedes-packet); the counter it still gives.
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, brokerId } as AedesPublishPacket, (err) => {
        if (err) return reject(err);
        this.counters.messagesOut++;
        resolve();
      });
    });
  }

  /**
   * Whether the device's current connection subscribed to this area's alert topic. A device
   * connected to another node of a cluster is taken to listen there: it subscribes on connect,
   * and an alert it missed meanwhile is replayed when it does (AlertService.onListening).
   */
  listensToArea(deviceId: string, areaId: string): boolean {
    if (!this.presence.isOnline(deviceId) && this.options.cluster?.elsewhere.has(deviceId)) return true;
    return this.areaListeners.get(deviceId)?.has(areaId) ?? false;
  }

  /** Connected to this server, or on a cluster to any of its nodes. */
  isOnline(deviceId: string): boolean {
    return this.presence.isOnline(deviceId) || (this.options.cluster?.elsewhere.has(deviceId) ?? false);
  }

  /** Connected to this node. */
  isOnlineHere(deviceId: string): boolean {
    return this.presence.isOnline(deviceId);
  }

  onlineHereIds(): string[] {
    return this.presence.onlineIds();
  }

  /** Since when a device connected here has been online here (its "online" event's instant). */
  onlineHereSince(deviceId: string): number | undefined {
    return this.presence.onlineSince(deviceId);
  }

  onlineDevices(): string[] {
    const here = this.presence.onlineIds();
    const elsewhere = this.options.cluster?.elsewhere.ids() ?? [];
    return elsewhere.length === 0 ? here : [...new Set([...here, ...elsewhere])];
  }

  /** Closes the device's connection at once (disabled or deleted devices), on whichever node it is. */
  disconnectDevice(deviceId: string): void {
    this.disconnectHere(deviceId);
    this.options.cluster?.disconnectElsewhere(deviceId);
  }

  /** Closes the device's connection to this node, if it has one. */
  disconnectHere(deviceId: string): void {
    this.presence.clientOf(deviceId)?.close();
  }

  stats(): MqttStats {
    return { ...this.intake.stats(), ...this.counters, connectedClients: this.aedes.connectedClients };
  }
}
