/**
 * The Modbus relay driver against an independent peer: Debian's python3-pymodbus as the RTU
 * slave on a socat pty pair. Each coil write is confirmed by what pymodbus itself prints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ModbusRelayDriver, openAmplifier } from '../src/index.js';
import { hasSocat, PtyPair } from '@loalang/test-kit';

const PYTHON = '/usr/bin/python3';
// The serial server needs pyserial too, which the package only recommends.
const hasPymodbus = spawnSync(PYTHON, ['-c', 'from pymodbus.server import StartSerialServer'], { stdio: 'ignore' }).status === 0;
if (!hasPymodbus) process.stdout.write('SKIP: Modbus interop: python3-pymodbus with python3-serial and python3-serial-asyncio is not installed (apt-get install python3-pymodbus python3-serial python3-serial-asyncio)\n');

describe.skipIf(!hasSocat || !hasPymodbus)('Modbus relay driver ↔ pymodbus slave', () => {
  const pty = new PtyPair();
  let slave: ChildProcess;
  let writes: { write: number; coils: boolean[] }[] = [];
  let relay: ModbusRelayDriver;

  beforeAll(async () => {
    await pty.start();
    slave = spawn(PYTHON, [fileURLToPath(new URL('./pymodbus-slave.py', import.meta.url)), pty.b], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let pending = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`pymodbus did not start: ${out}`)), 10_000);
      slave.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        // Whole lines only: a chunk may end mid-line.
        pending += c.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines.filter(Boolean)) {
          const msg = JSON.parse(line) as { ready?: string; write?: number; coils?: boolean[] };
          if (msg.ready) {
            clearTimeout(t);
            resolve();
          } else if (msg.coils) writes.push(msg as { write: number; coils: boolean[] });
        }
      });
      slave.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    });
    relay = (await openAmplifier({ path: pty.a, baudRate: 9600, driver: 'modbus-relay', coils: { power: 0, zones: [1, 2, 3] } })) as ModbusRelayDriver;
    await relay.start();
  }, 20_000);

  afterAll(async () => {
    await relay?.stop();
    slave?.kill();
    await pty.stop();
  });

  /** pymodbus prints a write after it answered it: the answer may reach us first. */
  const printed = async (n: number) => {
    const end = Date.now() + 3000;
    while (writes.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return writes;
  };

  it('switches the power coil with FC05 and reads it back with FC01', async () => {
    writes = [];
    await relay.powerOn();
    expect((await printed(1))[0]?.coils[0]).toBe(true);
    expect((await relay.status()).power).toBe(true);
    await relay.powerOff();
    expect((await printed(2))[1]?.coils[0]).toBe(false);
    expect(await relay.status()).toEqual({ power: false, faults: [] });
  });

  it('switches zone relays together with FC0F', async () => {
    await new Promise((r) => setTimeout(r, 200)); // the previous test's lines have all arrived
    writes = [];
    await relay.setZones(0b101);
    await printed(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(writes).toHaveLength(1); // one multiple-coil write
    expect(writes[0]!.coils.slice(1, 4)).toEqual([true, false, true]);
    expect(await relay.zones()).toEqual([true, false, true]);
  });

  it('counts frames and reports no invented measurements', async () => {
    const s = await relay.status();
    expect(s.temperatureC).toBeUndefined();
    expect(relay.counters().framesReceived).toBeGreaterThan(0);
  });
});

describe('Modbus relay driver without a board', () => {
  it('fails with a clear link error when the port does not exist', async () => {
    const relay = new ModbusRelayDriver({ path: '/dev/ttyLOALANG-NOPE', retries: 0 });
    await relay.start();
    await expect(relay.powerOn()).rejects.toMatchObject({ code: 'LOA_ERR_LINK_DOWN' });
    await relay.stop();
  });
});
