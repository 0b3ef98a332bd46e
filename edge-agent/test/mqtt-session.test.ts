/**
 * The session's reconnects, on a manual clock with a fake MQTT client: exponential backoff with
 * full jitter, reset by a connection, cancelled by stop; and the goodbye's time limit.
 * agent.test.ts runs the session against a real broker on real time.
 */
import { describe, expect, it } from 'vitest';
import { deviceTopic, ManualClock, silentLogger } from '@loalang/protocol';
import { MqttSession } from '../src/link/mqtt-session.js';
import { fakeConnect, guardFor } from './fake-mqtt.js';
import { testSigner } from './peers.js';

const DEVICE = 'd1';

function setup(random: () => number = () => 0.999_999) {
  const clock = new ManualClock();
  const { connect, clients } = fakeConnect();
  const session = new MqttSession({ url: 'mqtt://server:1883', deviceId: DEVICE, password: 'pw', logger: silentLogger, guard: guardFor(testSigner(), () => clock.now()), clock, connect, random });
  session.start();
  const client = clients[0]!;
  /** Instants (ms from now) at which the session asked to reconnect, over the next `ms`. */
  const reconnectsOver = async (ms: number, onEach: (n: number) => void = () => client.down()) => {
    const from = clock.now();
    const at: number[] = [];
    let seen = client.reconnects;
    const end = from + ms;
    while (clock.nextAt !== undefined && clock.nextAt <= end) {
      await clock.advanceAsync(clock.nextAt - clock.now());
      if (client.reconnects > seen) {
        seen = client.reconnects;
        at.push(clock.now() - from);
        onEach(at.length); // by default, that attempt failed as well
      }
    }
    await clock.advanceAsync(end - clock.now());
    return at;
  };
  return { clock, session, client, clients, reconnectsOver };
}

describe('MQTT session on a manual clock', () => {
  it('connects with the device credentials, a clean session, no mqtt.js retry, and an offline will', () => {
    const { client, clients } = setup();
    expect(clients).toHaveLength(1);
    expect(client.url).toBe('mqtt://server:1883');
    expect(client.options).toMatchObject({ clientId: DEVICE, username: DEVICE, password: 'pw', clean: true, keepalive: 30, reconnectPeriod: 0, will: { topic: deviceTopic(DEVICE, 'status'), qos: 1, retain: true } });
  });

  it('on connect says it is online (stamped by its clock), subscribes, and then tells its listeners', async () => {
    const { clock, session, client } = setup();
    let connected = 0;
    session.on('connected', () => connected++);
    await clock.advanceAsync(1234);
    client.up();
    expect(session.connected).toBe(true);
    expect(client.published[0]).toMatchObject({ topic: deviceTopic(DEVICE, 'status'), payload: { state: 'online', at: new Date(clock.now()).toISOString() }, qos: 1, retain: true });
    expect(client.subscribed).toEqual([`loalang/v1/dev/${DEVICE}/#`]);
    expect(connected).toBe(0); // only once the subscription is confirmed
    await clock.settle();
    expect(connected).toBe(1);
  });

  it('retries after 1 s, doubling to at most 60 s while attempts fail (jitter at its top)', async () => {
    const { client, reconnectsOver } = setup();
    client.down(); // the first connect failed
    const at = await reconnectsOver(430_000);
    const gaps = at.map((t, i) => t - (at[i - 1] ?? 0));
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000]);
  });

  it('draws each wait anywhere from 0 to the ceiling (full jitter)', async () => {
    const draws = [0, 0.5, 0.25, 0.999_999, 0.1];
    const { client, reconnectsOver } = setup(() => draws.shift() ?? 0.999_999);
    client.down();
    const at = await reconnectsOver(20_000);
    const gaps = at.map((t, i) => t - (at[i - 1] ?? 0));
    expect(gaps.slice(0, 5)).toEqual([0, 1000, 1000, 8000, 1600]);
  });

  it('a connection resets the backoff; a second close while a retry waits arms nothing more', async () => {
    const { clock, client, reconnectsOver } = setup();
    client.down();
    // The third attempt gets through.
    expect(await reconnectsOver(7000, (n) => (n < 3 ? client.down() : client.up()))).toEqual([1000, 3000, 7000]);
    expect(client.connected).toBe(true);
    expect(clock.pending).toBe(0);
    await clock.settle();
    client.down(); // the link drops later
    client.down(); // mqtt.js may say so twice
    expect(clock.pending).toBe(1);
    expect(await reconnectsOver(1000, () => undefined)).toEqual([1000]);
  });

  it('does not reconnect a client that is already connected when its retry falls due', async () => {
    const { clock, client } = setup();
    client.down();
    client.connected = true; // mqtt.js got there first
    await clock.advanceAsync(5000);
    expect(client.reconnects).toBe(0);
  });

  it('stop cancels a pending retry and ends the client at once when not connected', async () => {
    const { clock, session, client } = setup();
    client.down();
    expect(clock.pending).toBe(1);
    await session.stop();
    expect(clock.pending).toBe(0);
    expect(client.ended).toEqual(['force']);
    client.down(); // its last close after the end
    await clock.advanceAsync(600_000);
    expect(client.reconnects).toBe(0);
    await expect(session.publish('telemetry', {} as never)).rejects.toThrow('stopped');
  });

  it('stop says goodbye and ends cleanly; a goodbye that never completes is given up after 2 s', async () => {
    const polite = setup();
    polite.client.up();
    await polite.session.stop();
    expect(polite.client.published.at(-1)).toMatchObject({ payload: { state: 'offline' }, retain: true });
    expect(polite.client.ended).toEqual(['clean']);
    expect(polite.clock.pending).toBe(0);

    const { clock, session, client } = setup();
    client.up();
    client.acks = false; // the server vanished mid-goodbye
    let stopped = false;
    void session.stop().then(() => (stopped = true));
    await clock.advanceAsync(1999);
    expect(stopped).toBe(false);
    await clock.advanceAsync(1);
    expect(stopped).toBe(true);
    expect(client.ended).toEqual(['force']);
  });
});
