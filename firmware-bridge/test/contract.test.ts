/**
 * One contract for every amplifier controller: the same suite runs on the in-process
 * simulator and on the simulator behind a real pseudo-terminal (socat), then the
 * unplug/replug case on the pty.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BoardDriver, BoardSimulator, NodeSerialLink, createSimulatedAmplifier, type AmplifierController, type AmpEvent } from '../src/index.js';
import { hasSocat, PtyPair, until } from '@loalang/test-kit';

interface Fixture {
  amp: AmplifierController;
  close(): Promise<void>;
}

function ampContract(name: string, make: () => Promise<Fixture>): void {
  describe(`amplifier contract: ${name}`, () => {
    let f: Fixture;
    beforeAll(async () => {
      f = await make();
    });
    afterAll(async () => f?.close());

    it('switches power on and off and reports it', async () => {
      await f.amp.powerOn();
      expect((await f.amp.status()).power).toBe(true);
      await f.amp.powerOff();
      expect((await f.amp.status()).power).toBe(false);
    });

    it('sets the volume in half-decibel steps and clamps to the board range', async () => {
      await f.amp.setVolume(-20.5);
      expect((await f.amp.status()).volumeDb).toBe(-20.5);
      await f.amp.setVolume(6);
      expect((await f.amp.status()).volumeDb).toBe(0);
    });

    it('reports status fields and counts frames', async () => {
      const s = await f.amp.status();
      expect(s).toMatchObject({ faults: [], firmwareVersion: '1.0' });
      expect(typeof s.temperatureC).toBe('number');
      const c = f.amp.counters();
      expect(c.framesSent).toBeGreaterThan(0);
      expect(c.framesReceived).toBeGreaterThan(0);
    });
  });
}

ampContract('in-process simulator', async () => {
  const amp = createSimulatedAmplifier({ timeoutMs: 200 });
  await amp.start();
  return { amp, close: () => amp.stop() };
});

describe.skipIf(!hasSocat)('on a socat pty pair', () => {
  ampContract('simulator behind a real pty', async () => {
    const pty = new PtyPair();
    await pty.start();
    const sim = new BoardSimulator(new NodeSerialLink(pty.b, 115200));
    await sim.start();
    const amp = new BoardDriver(new NodeSerialLink(pty.a, 115200), { timeoutMs: 300 });
    await amp.start();
    return {
      amp,
      close: async () => {
        await amp.stop();
        await sim.stop();
        await pty.stop();
      },
    };
  });

  describe('unplug and replug', () => {
    const pty = new PtyPair();
    let sim: BoardSimulator | null = null;
    let amp: BoardDriver;
    afterEach(async () => {
      await amp?.stop();
      await sim?.stop();
      await pty.stop();
    });

    it('reports the link down, refuses commands fast, and reconnects when the port returns', async () => {
      await pty.start();
      sim = new BoardSimulator(new NodeSerialLink(pty.b, 115200));
      await sim.start();
      amp = new BoardDriver(new NodeSerialLink(pty.a, 115200), { timeoutMs: 200, reconnectMinMs: 100, reconnectMaxMs: 400 });
      const events: AmpEvent[] = [];
      amp.on('event', (e) => events.push(e));
      await amp.start();
      await amp.powerOn();

      await sim.stop().catch(() => undefined);
      sim = null;
      await pty.stop(); // the adapter is pulled
      await until('the link seen down', () => events.some((e) => e.type === 'link' && !e.up), 8000);
      await expect(amp.status()).rejects.toMatchObject({ code: 'LOA_ERR_LINK_DOWN' });

      await pty.start(); // plugged back in
      sim = new BoardSimulator(new NodeSerialLink(pty.b, 115200));
      await sim.start();
      await until('the link seen up again', () => events.filter((e) => e.type === 'link' && e.up).length >= 2, 8000);
      expect(amp.counters().reconnects).toBeGreaterThanOrEqual(1);
      expect((await amp.status()).faults).toEqual([]);
    }, 20_000);
  });
});
