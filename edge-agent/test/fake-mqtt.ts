/** An MQTT client for MqttSession tests: no broker, no sockets; the test says when the link is up or down. */
import { EventEmitter } from 'node:events';
import type { IClientOptions } from 'mqtt';
import { DownlinkGuard } from '../src/link/downlink-guard.js';
import type { ConnectMqtt, SessionClient } from '../src/link/mqtt-session.js';
import type { TestSigner } from './peers.js';

export interface Published {
  topic: string;
  payload: unknown;
  qos: 0 | 1;
  retain: boolean;
}

export class FakeMqttClient extends EventEmitter implements SessionClient {
  connected = false;
  published: Published[] = [];
  subscribed: string[] = [];
  reconnects = 0;
  ended: ('force' | 'clean')[] = [];
  /** When false, QoS 1 publishes never complete (a server that vanished mid-send). */
  acks = true;

  constructor(readonly url: string, readonly options: IClientOptions) {
    super();
  }

  /** The broker took the connection: `connect`, as mqtt.js emits it. */
  up(): void {
    this.connected = true;
    this.emit('connect');
  }

  /** The link dropped (or a connect attempt failed): `close`, as mqtt.js emits it. */
  down(): void {
    this.connected = false;
    this.emit('close');
  }

  /** A message from the server on `topic`. */
  deliver(topic: string, payload: Buffer): void {
    this.emit('message', topic, payload);
  }

  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): this {
    this.published.push({ topic, payload: JSON.parse(payload.toString()), qos: opts.qos, retain: opts.retain ?? false });
    return this;
  }

  publishAsync(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<unknown> {
    if (!this.connected) return Promise.reject(new Error('client disconnecting'));
    this.publish(topic, payload, opts);
    return this.acks || opts.qos === 0 ? Promise.resolve(undefined) : new Promise(() => undefined);
  }

  subscribe(topics: string | string[], _opts: { qos: 0 | 1 }, callback: (err: Error | null) => void): this {
    this.subscribed.push(...[topics].flat());
    queueMicrotask(() => callback(null));
    return this;
  }

  unsubscribe(topics: string[]): this {
    this.subscribed = this.subscribed.filter((t) => !topics.includes(t));
    return this;
  }

  reconnect(): this {
    this.reconnects++;
    return this;
  }

  end(force: boolean): this {
    this.ended.push(force ? 'force' : 'clean');
    this.connected = false;
    return this;
  }

  endAsync(): Promise<void> {
    this.end(false);
    return Promise.resolve();
  }
}

/** A connect function that hands out fake clients; `clients` holds each one made. */
export function fakeConnect(): { connect: ConnectMqtt; clients: FakeMqttClient[] } {
  const clients: FakeMqttClient[] = [];
  return {
    clients,
    connect: (url, options) => {
      const c = new FakeMqttClient(url, options);
      clients.push(c);
      return c;
    },
  };
}

/** A guard trusting `signer`'s key, judging time by `now`. */
export function guardFor(signer: TestSigner, now: () => number): DownlinkGuard {
  let seen: [number, number][] = [];
  return new DownlinkGuard({ state: { trustedKeys: () => signer.serverKeys, seen: () => seen, saveSeen: (s) => (seen = s) }, serverNow: now, clockKnown: () => true });
}
