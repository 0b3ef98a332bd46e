/** Frame codec at the byte level, and the driver against the board simulator. */
import { afterEach, describe, expect, it } from 'vitest';
import { BoardDriver, BoardSimulator, CMD, createLinkPair, crc16, encodeFrame, FrameParser, type AmpEvent, type Frame } from '../src/index.js';

describe('crc16', () => {
  it('is CRC-16/CCITT-FALSE (check value of "123456789" is 0x29B1)', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x29b1);
  });
});

describe('frame parser', () => {
  const frames: Frame[] = [];
  const make = () => {
    frames.length = 0;
    return new FrameParser((f) => frames.push(f));
  };
  const status = encodeFrame({ seq: 7, cmd: CMD.STATUS, payload: Buffer.alloc(0) });
  const volume = encodeFrame({ seq: 8, cmd: CMD.VOLUME, payload: Buffer.from([0xff, 0xec]) });

  it('encodes the documented example', () => {
    expect(status.toString('hex')).toBe('a5000706' + crc16(Buffer.from([0, 7, 6])).toString(16).padStart(4, '0'));
  });

  it('reassembles a frame delivered byte by byte', () => {
    const p = make();
    for (const b of volume) p.push(Buffer.from([b]));
    expect(frames).toEqual([{ seq: 8, cmd: CMD.VOLUME, payload: Buffer.from([0xff, 0xec]) }]);
  });

  it('resyncs after garbage, even garbage containing the start byte', () => {
    const p = make();
    p.push(Buffer.concat([Buffer.from([0x00, 0xa5, 0x13, 0x37, 0xa5]), status, Buffer.from([0xde, 0xad]), volume]));
    expect(frames.map((f) => f.seq)).toEqual([7, 8]);
    expect(p.counters.discardedBytes).toBeGreaterThan(0);
  });

  it('drops and counts a frame with a bad CRC, then reads the next', () => {
    const p = make();
    const bad = Buffer.from(status);
    bad[bad.length - 1]! ^= 0xff;
    p.push(Buffer.concat([bad, volume]));
    expect(frames.map((f) => f.seq)).toEqual([8]);
    expect(p.counters.crcErrors).toBe(1);
  });

  it('rejects an oversize length and resyncs', () => {
    const p = make();
    p.push(Buffer.concat([Buffer.from([0xa5, 200, 1, 2, 3]), status]));
    expect(frames.map((f) => f.seq)).toEqual([7]);
    expect(p.counters.oversize).toBe(1);
  });

  it('refuses to encode an oversize payload', () => {
    expect(() => encodeFrame({ seq: 1, cmd: 1, payload: Buffer.alloc(65) })).toThrow(RangeError);
  });
});

describe('driver with the simulator (in-process link)', () => {
  let driver: BoardDriver;
  let sim: BoardSimulator;
  const setup = async (opts: ConstructorParameters<typeof BoardDriver>[1] = {}) => {
    const [a, b] = createLinkPair();
    sim = new BoardSimulator(b, { softStartMs: 20 });
    await sim.start();
    driver = new BoardDriver(a, { timeoutMs: 100, retries: 2, ...opts });
    await driver.start();
  };
  afterEach(async () => {
    await driver?.stop();
    await sim?.stop();
  });

  it('switches power, sets volume and reads status', async () => {
    await setup();
    await driver.powerOn();
    await driver.setVolume(-12.5);
    const s = await driver.status();
    expect(s).toMatchObject({ power: true, volumeDb: -12.5, faults: [], firmwareVersion: '1.0' });
    expect(s.temperatureC).toBeGreaterThanOrEqual(30);
    await driver.powerOff();
    expect((await driver.status()).power).toBe(false);
  });

  it('turns a NACK into an error with the board code', async () => {
    await setup();
    await expect(driver.request(CMD.VOLUME, Buffer.from([0x00, 0x10]))).rejects.toMatchObject({ code: 'LOA_ERR_AMP_NACK', message: expect.stringContaining('bad-value') });
    await expect(driver.request(0x42, Buffer.alloc(0))).rejects.toMatchObject({ code: 'LOA_ERR_AMP_NACK', message: expect.stringContaining('unknown-command') });
  });

  it('retries through dropped and corrupted answers and counts them', async () => {
    await setup();
    sim.inject({ dropNext: 1 });
    await driver.powerOn();
    sim.inject({ corruptNext: 1 });
    await driver.status();
    const c = driver.counters();
    expect(c.timeouts).toBeGreaterThanOrEqual(2);
    expect(c.retries).toBeGreaterThanOrEqual(2);
    expect(c.crcErrors).toBe(1);
  });

  it('gets through line noise full of false start bytes', async () => {
    await setup();
    sim.inject({ noiseNext: 5 });
    for (let i = 0; i < 5; i++) expect((await driver.status()).faults).toEqual([]);
    expect(driver.counters().discardedBytes).toBeGreaterThan(0);
  });

  it('sets zones and mute, and refuses a test tone while the amplifier is off', async () => {
    await setup();
    await driver.setZones(0b110);
    await driver.setMute(true);
    expect(sim.state).toMatchObject({ zones: 0b110, muted: true });
    expect((await driver.status()).muted).toBe(true);
    await expect(driver.testTone(2)).rejects.toMatchObject({ code: 'LOA_ERR_AMP_NACK', message: expect.stringContaining('busy') });
    await driver.powerOn();
    await driver.testTone(2);
  });

  it('gives up with a timeout when the board stays silent', async () => {
    await setup({ retries: 1 });
    sim.inject({ dropNext: 5 });
    await expect(driver.powerOn()).rejects.toMatchObject({ code: 'LOA_ERR_AMP_TIMEOUT' });
  });

  it('delivers fault events and refuses power-on while over temperature', async () => {
    await setup();
    const events: AmpEvent[] = [];
    driver.on('event', (e) => events.push(e));
    sim.inject({ overTemperature: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toContainEqual({ type: 'fault', fault: 'over-temperature', active: true });
    await expect(driver.powerOn()).rejects.toMatchObject({ code: 'LOA_ERR_AMP_NACK' });
    expect((await driver.status()).faults).toContain('over-temperature');
  });

  it('the failsafe switches the amplifier off when the agent falls silent', async () => {
    await setup({ failsafeSec: 1 });
    await driver.powerOn();
    await driver.stop(); // no more heartbeats
    await new Promise((r) => setTimeout(r, 1400));
    expect(sim.state.power).toBe(false);
    expect(sim.state.failsafeTrips).toBe(1);
  });

  it('keeps the amplifier on while heartbeats flow', async () => {
    await setup({ failsafeSec: 1 });
    await driver.powerOn();
    await new Promise((r) => setTimeout(r, 1400));
    expect(sim.state.power).toBe(true);
  });
});

describe('PROTOCOL.md examples', () => {
  it('are valid frames byte for byte', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
    const examples = [...doc.matchAll(/`(a5(?: [0-9a-f]{2})+)`/g)].map((m) => Buffer.from(m[1]!.replace(/ /g, ''), 'hex'));
    expect(examples.length).toBeGreaterThanOrEqual(7);
    for (const bytes of examples) {
      const got: Frame[] = [];
      new FrameParser((f) => got.push(f)).push(bytes);
      expect(got, bytes.toString('hex')).toHaveLength(1);
      expect(encodeFrame(got[0]!)).toEqual(bytes);
    }
  });
});

describe('driver without a board', () => {
  it('reports the link down with the reason when the board never answers', async () => {
    const [a, b] = createLinkPair();
    await b.open(); // a port with nothing behind it
    const driver = new BoardDriver(a, { timeoutMs: 50, retries: 1, reconnectMinMs: 10_000 });
    await driver.start();
    await expect(driver.status()).rejects.toMatchObject({ code: 'LOA_ERR_LINK_DOWN', message: expect.stringContaining('did not answer') });
    await driver.stop();
    await b.close();
  });
});
