/**
 * The agent's MQTT session: device credentials, a retained online status with an offline
 * last will, validated downlinks, and reconnects with exponential backoff and full jitter
 * (mqtt.js only has a fixed period; a thousand boxes retrying in step after a 4G outage
 * would hammer the server).
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import mqtt, { type IClientOptions } from 'mqtt';
import { AGENT_FEATURES, areaTopic, DOWNLINK, deviceTopic, deviceTopicFilter, encodeMessage, MessageSchemas, NAMESPACE, parseDeviceTopic, systemClock, validate, type Clock, type ClockTimer, type Logger, type DownlinkKind, type MessageKind, type MessageOf, type RefusalReason } from '@loalang/protocol';
import { AGENT_VERSION } from '../version.js';
import type { DownlinkGuard } from './downlink-guard.js';

export interface SessionOptions {
  url: string;
  /**
   * Other nodes of the server's cluster (issue 17). With `url`, the session starts on the one its
   * device id picks (so boxes spread over the nodes) and each reconnect tries the next, with the
   * same jittered backoff.
   */
  failoverUrls?: string[];
  deviceId: string;
  password: string;
  logger: Logger;
  /** The version this agent runs (its release's, issue 20), said in its status. */
  agentVersion?: string;
  /** MQTT keepalive (s), default 30. */
  keepaliveSec?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** PEM of the only CA the server's TLS certificate may chain to (mqtts://). */
  ca?: string;
  /** Checks each downlink's signature, recipient, age and sequence before anything sees it. */
  guard: DownlinkGuard;
  /**
   * The box's clock: each downlink's arrival is noted on it before it is checked; the reconnect
   * backoff and the goodbye's time limit wait on it. Default: the system clock.
   */
  clock?: Clock;
  /** Opens the MQTT connection (a test passes a fake client); default mqtt.js `connect`. */
  connect?: ConnectMqtt;
  /** Draws the backoff's jitter, in [0, 1); default Math.random. */
  random?: () => number;
}

/** What the session uses of an MQTT client: mqtt.js's MqttClient is one. */
export interface SessionClient {
  readonly connected: boolean;
  on(event: 'connect', listener: () => void): unknown;
  on(event: 'message', listener: (topic: string, payload: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): unknown;
  publishAsync(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<unknown>;
  subscribe(topics: string | string[], opts: { qos: 0 | 1 }, callback: (err: Error | null) => void): unknown;
  unsubscribe(topics: string[]): unknown;
  reconnect(): unknown;
  end(force: boolean): unknown;
  endAsync(): Promise<void>;
}

export type ConnectMqtt = (url: string, options: IClientOptions) => SessionClient;

const mqttConnect: ConnectMqtt = (url, options) => mqtt.connect(url, options);

export interface Refusal {
  kind: string;
  reason: RefusalReason;
  detail: string;
  seq?: number;
  kid?: string;
}

type Downlink = DownlinkKind;
const STOP_WAIT_MS = 2000;
const DOWNLINKS: ReadonlySet<string> = new Set<Downlink>(DOWNLINK);
/** The area topics a device listens on: alerts, live announcements and their audio. */
const AREA_KINDS = ['alert', 'live', 'live/audio'] as const;
/** The longest reconnect wait while a live announcement plays. */
export const URGENT_BACKOFF_MS = 2000;
/** Messages held until the clock is measured (only those that failed on time alone). */
const MAX_HELD = 32;

/** One event per downlink kind of the protocol (a `time/reply` also carries its arrival on this box's clock). */
type SessionEvents = { [K in Exclude<Downlink, 'time/reply'>]: [MessageOf<K>] } & {
  'time/reply': [MessageOf<'time/reply'>, number];
  /** A live session's frame group from an area topic: not an envelope; the live receiver checks its signature. */
  'live/audio': [areaId: string, payload: Buffer];
  connected: [];
  refused: [Refusal];
};

/**
 * The endpoints in the order this box tries them (mqtt.js moves to the next on each reconnect),
 * starting at the one its device id picks; undefined when there is only one.
 */
export function serverRotation(url: string, failover: string[], deviceId: string): { host: string; port: number; protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss' }[] | undefined {
  const urls = [url, ...failover].filter((u, i, all) => all.indexOf(u) === i);
  if (urls.length < 2) return undefined;
  const start = createHash('sha256').update(deviceId).digest().readUInt32BE(0) % urls.length;
  return [...urls.slice(start), ...urls.slice(0, start)].map((u) => {
    const parsed = new URL(u);
    const protocol = parsed.protocol.slice(0, -1) as 'mqtt' | 'mqtts' | 'ws' | 'wss';
    const port = parsed.port ? Number(parsed.port) : { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }[protocol];
    return { host: parsed.hostname, port, protocol };
  });
}

export class MqttSession extends EventEmitter<SessionEvents> {
  private client: SessionClient | null = null;
  private stopped = false;
  private attempt = 0;
  private retryTimer: ClockTimer | null = null;
  private readonly clock: Clock;
  /** Areas whose alert and live topics this device listens on (its own and every one above). */
  private areaIds: string[] = [];
  /** While a live announcement plays, a dropped link is retried within URGENT_BACKOFF_MS (its speaker rejoins in seconds). */
  private urgent = false;
  private held: { kind: Downlink; to: string; payload: Buffer; receivedAt: number }[] = [];

  constructor(private readonly o: SessionOptions) {
    super();
    this.clock = o.clock ?? systemClock;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const statusTopic = deviceTopic(this.o.deviceId, 'status');
    const servers = serverRotation(this.o.url, this.o.failoverUrls ?? [], this.o.deviceId);
    const client = (this.o.connect ?? mqttConnect)(this.o.url, {
      ...(servers ? { servers } : {}),
      clientId: this.o.deviceId,
      username: this.o.deviceId,
      password: this.o.password,
      clean: true,
      keepalive: this.o.keepaliveSec ?? 30,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      will: { topic: statusTopic, payload: encodeMessage('status', { v: 1, state: 'offline' }), qos: 1, retain: true },
      ...(this.o.ca ? { ca: this.o.ca, rejectUnauthorized: true } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      this.attempt = 0;
      const options = (client as { options?: { protocol?: string; host?: string; hostname?: string; port?: number } }).options;
      this.o.logger.info({ url: servers && options ? `${options.protocol}://${options.hostname ?? options.host}:${options.port}` : this.o.url }, 'connected to server');
      const online = encodeMessage('status', { v: 1, state: 'online', at: new Date(this.clock.now()).toISOString(), agentVersion: this.o.agentVersion ?? AGENT_VERSION, features: [...AGENT_FEATURES] });
      client.publish(statusTopic, online, { qos: 1, retain: true });
      client.subscribe(deviceTopicFilter(this.o.deviceId), { qos: 1 }, (err) => {
        if (err) this.o.logger.error({ err: err.message }, 'subscribe failed');
        else this.emit('connected');
      });
      this.subscribeAreas(this.areaIds);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => {
      if (this.stopped) return; // the goodbye is done; late writes from shutting-down parts do not matter
      const code = (err as { code?: number }).code;
      if (code === 4 || code === 5) this.o.logger.error({}, 'the server refused this device\'s credentials / máy chủ từ chối thông tin đăng nhập của thiết bị');
      else this.o.logger.warn({ err: err.message }, 'mqtt error');
    });
    client.on('close', () => this.scheduleReconnect());
  }

  /**
   * While true (a live announcement is on), reconnects wait at most URGENT_BACKOFF_MS, jittered
   * as always: the speaker must rejoin the announcement within seconds of its link coming back.
   */
  setUrgent(urgent: boolean): void {
    this.urgent = urgent;
  }

  /** Listens for alerts and live announcements on these areas' topics (from the desired state), dropping areas left behind. */
  setAreas(areaIds: string[]): void {
    const next = areaIds.filter((id, i) => areaIds.indexOf(id) === i);
    const gone = this.areaIds.filter((id) => !next.includes(id));
    const added = next.filter((id) => !this.areaIds.includes(id));
    this.areaIds = next;
    if (!this.client?.connected) return;
    if (gone.length) this.client.unsubscribe(gone.flatMap((id) => AREA_KINDS.map((kind) => areaTopic(id, kind))));
    this.subscribeAreas(added);
  }

  private subscribeAreas(areaIds: string[]): void {
    if (areaIds.length === 0 || !this.client) return;
    // QoS 0 like the server's area publishes; missed ones are resent on the device topic.
    this.client.subscribe(areaIds.flatMap((id) => AREA_KINDS.map((kind) => areaTopic(id, kind))), { qos: 0 }, (err) => {
      if (err) this.o.logger.error({ err: err.message }, 'area subscribe failed');
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    const min = this.o.minBackoffMs ?? 1000;
    const max = this.o.maxBackoffMs ?? 60_000;
    const ceiling = Math.min(this.urgent ? Math.min(max, URGENT_BACKOFF_MS) : max, min * 2 ** Math.min(this.attempt, 16));
    const delay = Math.round((this.o.random ?? Math.random)() * ceiling);
    this.attempt++;
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped && this.client && !this.client.connected) this.client.reconnect();
    }, delay);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const receivedAt = this.clock.now();
    const areaPrefix = `${NAMESPACE}/area/`;
    if (topic.startsWith(areaPrefix)) {
      const [areaId, kind, sub] = topic.slice(areaPrefix.length).split('/');
      if (!areaId || !this.areaIds.includes(areaId)) return;
      if (kind === 'live' && sub === 'audio') this.emit('live/audio', areaId, payload);
      else if ((kind === 'alert' || kind === 'live') && sub === undefined) this.deliver(kind, `area/${areaId}`, payload, receivedAt);
      return;
    }
    const parsed = parseDeviceTopic(topic);
    if (!parsed || parsed.deviceId !== this.o.deviceId || !DOWNLINKS.has(parsed.kind)) return;
    this.deliver(parsed.kind as Downlink, `dev/${this.o.deviceId}`, payload, receivedAt);
  }

  private deliver(kind: Downlink, to: string, payload: Buffer, receivedAt: number, mayHold = true): void {
    const checked = this.o.guard.check(kind, to, payload, mayHold);
    if (!checked.ok) {
      if (checked.hold && this.held.length < MAX_HELD) {
        this.held.push({ kind, to, payload, receivedAt });
        this.o.logger.info({ kind, reason: checked.reason }, 'downlink held until the clock is measured');
        return;
      }
      const { reason, detail, seq, kid } = checked;
      return this.refuse({ kind, reason, detail, ...(seq !== undefined ? { seq } : {}), ...(kid !== undefined ? { kid } : {}) });
    }
    // Signed by our server, so a schema failure is a version mismatch or a bug: still refused.
    const result = validate(MessageSchemas[kind], checked.body);
    if (!result.ok) return this.refuse({ kind, reason: 'invalid', detail: result.reason, seq: checked.envelope.seq, kid: checked.envelope.kid });
    // The schema for `kind` validated the value, so it is that kind's message.
    (this.emit as (k: Downlink, v: unknown, at: number) => boolean)(kind, result.value, receivedAt);
  }

  private refuse(r: Refusal): void {
    this.o.logger.warn(r, 'downlink refused / từ chối bản tin từ máy chủ');
    this.emit('refused', r);
  }

  /** The clock is measured: checks the held messages again, this time for good. */
  releaseHeld(): void {
    for (const h of this.held.splice(0)) this.deliver(h.kind, h.to, h.payload, h.receivedAt, false);
  }

  publish<K extends MessageKind>(kind: K, message: MessageOf<K>, qos: 0 | 1 = 1): Promise<void> {
    const client = this.client;
    if (this.stopped || !client?.connected) return Promise.reject(new Error(this.stopped ? 'stopped' : 'not connected'));
    return client.publishAsync(deviceTopic(this.o.deviceId, kind as 'report'), encodeMessage(kind, message), { qos }).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      // Say goodbye, but never wait long for a server that may have just vanished.
      const offline = encodeMessage('status', { v: 1, state: 'offline', at: new Date(this.clock.now()).toISOString() });
      const bye = client.publishAsync(deviceTopic(this.o.deviceId, 'status'), offline, { qos: 1, retain: true }).then(() => client.endAsync());
      let timer: ClockTimer | undefined;
      const gaveUp = await Promise.race([
        bye.then(() => false, () => true),
        new Promise<boolean>((r) => (timer = this.clock.setTimeout(() => r(true), STOP_WAIT_MS))),
      ]);
      if (timer) this.clock.clearTimeout(timer);
      if (!gaveUp) return;
    }
    // Not connected (server gone, or mid-reconnect): mqtt.js would wait for a close that
    // never comes, so end without waiting.
    client.end(true);
  }
}
