/**
 * The Modbus relay driver against a fake client: what it asks of the client (opening the
 * port, the coil writes and reads) and how the client's failures come out of it. Fast and
 * without a serial port; `modbus-relay.test.ts` checks the same driver against pymodbus.
 */
import { describe, expect, it } from 'vitest';
import { ModbusRelayDriver, type AmpEvent, type ModbusClient, type ModbusRelayOptions } from '../src/index.js';

/** Errors shaped as `modbus-serial` makes them. */
const timedOut = () => Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError', errno: 'ETIMEDOUT' });
const modbusException = () => Object.assign(new Error('Modbus exception 2: Illegal data address (register not supported by device)'), { modbusCode: 2 });
const portNotOpen = () => Object.assign(new Error('Port Not Open'), { name: 'PortNotOpenError', errno: 'ECONNREFUSED' });

class FakeModbusClient implements ModbusClient {
  isOpen = false;
  /** Every call, in order, e.g. `writeCoil 0 true`. */
  readonly calls: string[] = [];
  readonly coils = new Map<number, boolean>();
  /** Thrown by the next connects, one each. */
  readonly openFailures: Error[] = [];
  /** Thrown by the next coil requests, one each. */
  readonly failures: Error[] = [];
  /** The port goes away before the next request. */
  dropBeforeNext = false;
  inFlight = 0;
  maxInFlight = 0;

  async connectRTUBuffered(path: string, options: { baudRate: number; dataBits: number; stopBits: number; parity: 'none' }): Promise<void> {
    this.calls.push(`connect ${path} ${options.baudRate} ${options.dataBits}${options.parity[0]!.toUpperCase()}${options.stopBits}`);
    await Promise.resolve();
    const failure = this.openFailures.shift();
    if (failure) throw failure;
    this.isOpen = true;
  }

  setID(id: number): void {
    this.calls.push(`setID ${id}`);
  }

  setTimeout(ms: number): void {
    this.calls.push(`setTimeout ${ms}`);
  }

  close(callback: () => void): void {
    this.calls.push('close');
    this.isOpen = false;
    callback();
  }

  private async request<T>(call: string, answer: () => T): Promise<T> {
    this.calls.push(call);
    if (this.dropBeforeNext) {
      this.dropBeforeNext = false;
      this.isOpen = false;
    }
    if (!this.isOpen) throw portNotOpen();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const failure = this.failures.shift();
    if (failure) throw failure;
    return answer();
  }

  writeCoil(address: number, state: boolean): Promise<unknown> {
    return this.request(`writeCoil ${address} ${state}`, () => {
      this.coils.set(address, state);
      return { address, state };
    });
  }

  writeCoils(address: number, states: boolean[]): Promise<unknown> {
    return this.request(`writeCoils ${address} ${states.join(',')}`, () => {
      states.forEach((s, i) => this.coils.set(address + i, s));
      return { address, length: states.length };
    });
  }

  readCoils(address: number, length: number): Promise<{ data: boolean[] }> {
    return this.request(`readCoils ${address} ${length}`, () => ({ data: Array.from({ length }, (_, i) => this.coils.get(address + i) ?? false) }));
  }
}

function relayWith(options: Partial<ModbusRelayOptions> = {}) {
  const client = new FakeModbusClient();
  const relay = new ModbusRelayDriver({ path: '/dev/ttyFAKE', client, ...options });
  const events: AmpEvent[] = [];
  relay.on('event', (e) => events.push(e));
  return { client, relay, events };
}

describe('Modbus relay driver with a fake client', () => {
  it('opens the port 9600 8N1 on unit 1 with a 500 ms timeout, once', async () => {
    const { client, relay, events } = relayWith();
    await relay.start();
    await relay.powerOn();
    expect(client.calls).toEqual(['connect /dev/ttyFAKE 9600 8N1', 'setID 1', 'setTimeout 500', 'writeCoil 0 true']);
    expect(events).toEqual([{ type: 'link', up: true }]);
    await relay.stop();
    expect(client.calls.at(-1)).toBe('close');
    expect(client.isOpen).toBe(false);
  });

  it('takes the baud rate, unit and timeout it is given', async () => {
    const { client, relay } = relayWith({ baudRate: 19200, unitId: 7, timeoutMs: 250 });
    await relay.start();
    expect(client.calls).toEqual(['connect /dev/ttyFAKE 19200 8N1', 'setID 7', 'setTimeout 250']);
    await relay.stop();
  });

  it('switches the power coil on and off (FC05) and reads it back (FC01)', async () => {
    const { client, relay } = relayWith();
    await relay.start();
    client.calls.length = 0;
    await relay.powerOn();
    expect(await relay.status()).toEqual({ power: true, faults: [] });
    await relay.powerOff();
    expect(await relay.status()).toEqual({ power: false, faults: [] });
    // Power is coil 0 and the zones 1–3: one read covers them all.
    expect(client.calls).toEqual(['writeCoil 0 true', 'readCoils 0 4', 'writeCoil 0 false', 'readCoils 0 4']);
    expect(relay.counters()).toMatchObject({ framesSent: 4, framesReceived: 4, timeouts: 0, retries: 0, reconnects: 0 });
    await relay.stop();
  });

  it('switches contiguous zone coils in one FC0F write, scattered ones one by one', async () => {
    const { client, relay } = relayWith();
    await relay.start();
    client.calls.length = 0;
    await relay.setZones(0b101);
    expect(client.calls).toEqual(['writeCoils 1 true,false,true']);
    expect(await relay.zones()).toEqual([true, false, true]);

    const scattered = relayWith({ coils: { power: 8, zones: [2, 5] } });
    await scattered.relay.start();
    scattered.client.calls.length = 0;
    await scattered.relay.setZones(0b10);
    await scattered.relay.powerOn();
    expect(scattered.client.calls).toEqual(['writeCoil 2 false', 'writeCoil 5 true', 'writeCoil 8 true']);
    expect(await scattered.relay.zones()).toEqual([false, true]);
    expect(await scattered.relay.status()).toEqual({ power: true, faults: [] });
    expect(scattered.client.calls.slice(-2)).toEqual(['readCoils 2 4', 'readCoils 2 7']);
    await relay.stop();
    await scattered.relay.stop();
  });

  it('sends one request at a time, in the order asked', async () => {
    const { client, relay } = relayWith();
    await relay.start();
    client.calls.length = 0;
    await Promise.all([relay.powerOn(), relay.setZones(0b111), relay.status(), relay.powerOff()]);
    expect(client.maxInFlight).toBe(1);
    expect(client.calls).toEqual(['writeCoil 0 true', 'writeCoils 1 true,true,true', 'readCoils 0 4', 'writeCoil 0 false']);
    await relay.stop();
  });

  it('a board that refuses (Modbus exception) fails the request at once as a NACK', async () => {
    const { client, relay } = relayWith();
    await relay.start();
    client.failures.push(modbusException());
    await expect(relay.powerOn()).rejects.toMatchObject({ code: 'LOA_ERR_AMP_NACK', message: expect.stringContaining('write power coil: Modbus exception 2') });
    expect(client.calls.filter((c) => c.startsWith('writeCoil'))).toHaveLength(1);
    // The next request goes through.
    await relay.powerOn();
    expect(client.coils.get(0)).toBe(true);
    await relay.stop();
  });

  it('retries a request that timed out, then fails as a timeout, counting both', async () => {
    const { client, relay } = relayWith({ retries: 2 });
    await relay.start();
    client.failures.push(timedOut());
    await relay.powerOn();
    expect(relay.counters()).toMatchObject({ timeouts: 1, retries: 1, framesSent: 2, framesReceived: 1 });

    client.failures.push(timedOut(), timedOut(), timedOut());
    await expect(relay.powerOff()).rejects.toMatchObject({ code: 'LOA_ERR_AMP_TIMEOUT', message: expect.stringContaining('write power coil: Timed out') });
    expect(client.calls.filter((c) => c === 'writeCoil 0 false')).toHaveLength(3);
    expect(relay.counters()).toMatchObject({ timeouts: 4, retries: 3 });
    expect(client.coils.get(0)).toBe(true);
    await relay.stop();
  });

  it('a port that cannot be opened: start carries on, each request fails as link down', async () => {
    const { client, relay, events } = relayWith();
    client.openFailures.push(new Error('No such file or directory, cannot open /dev/ttyFAKE'));
    await relay.start();
    client.openFailures.push(new Error('No such file or directory, cannot open /dev/ttyFAKE'));
    await expect(relay.powerOn()).rejects.toMatchObject({ code: 'LOA_ERR_LINK_DOWN', message: expect.stringContaining('cannot open /dev/ttyFAKE') });
    expect(client.calls.filter((c) => c.startsWith('writeCoil'))).toEqual([]);
    expect(events).toEqual([]);
    // Once the port is there, the next request opens it.
    await relay.powerOn();
    expect(events).toEqual([{ type: 'link', up: true }]);
    expect(client.coils.get(0)).toBe(true);
    await relay.stop();
  });

  it('a port that went away is closed, reopened and the request sent again', async () => {
    const { client, relay, events } = relayWith();
    await relay.start();
    client.dropBeforeNext = true;
    await relay.powerOn();
    expect(events).toEqual([{ type: 'link', up: true }, { type: 'link', up: false }, { type: 'link', up: true }]);
    expect(client.calls.slice(3)).toEqual(['writeCoil 0 true', 'close', 'connect /dev/ttyFAKE 9600 8N1', 'setID 1', 'setTimeout 500', 'writeCoil 0 true']);
    expect(relay.counters()).toMatchObject({ reconnects: 1, retries: 1 });
    expect(client.coils.get(0)).toBe(true);
    await relay.stop();
  });
});
