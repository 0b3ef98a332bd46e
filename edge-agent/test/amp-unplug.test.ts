/**
 * The amplifier board's USB adapter is pulled mid-play (socat killed) and plugged back:
 * the play still completes, the agent raises a condition and then clears it, nothing crashes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoardDriver, BoardSimulator, NodeSerialLink } from '@loalang/firmware-bridge';
import type { DeviceEvent, PlayReport } from '@loalang/protocol';
import { Agent } from '../src/agent.js';
import { parseAgentConfig } from '../src/config.js';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';
import { observer, startBroker, startContentServer, testSigner } from './peers.js';

const signer = testSigner();
import { hasSocat, PtyPair, until } from '@loalang/test-kit';

describe.skipIf(!hasSocat)('agent with the board on a real pty', () => {
  const work = mkdtempSync(join(tmpdir(), 'loalang-unplug-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('survives an unplug mid-play, raising and then clearing the link condition', async () => {
    const tone = join(work, 'tone.ogg');
    execFileSync(locateFfmpeg(), ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=3', '-ac', '1', '-c:a', 'libopus', tone]);
    const sha = createHash('sha256').update(readFileSync(tone)).digest('hex');
    const content = await startContentServer({ tone }, { user: 'd1', password: 'pw' });
    const broker = await startBroker();
    const obs = await observer(broker.port);
    const pty = new PtyPair();
    await pty.start();
    let sim = new BoardSimulator(new NodeSerialLink(pty.b, 115200));
    await sim.start();
    const amplifier = new BoardDriver(new NodeSerialLink(pty.a, 115200), { timeoutMs: 200, reconnectMinMs: 100, reconnectMaxMs: 300 });
    const config = parseAgentConfig(
      { deviceId: 'd1', password: 'pw', mqttUrl: `mqtt://127.0.0.1:${broker.port}`, httpUrl: 'http://x', cacheDir: join(work, 'cache'), serial: { path: pty.a }, audioSink: `file:${join(work, 'sink')}`, warmupMs: 200, tailMs: 300, serverKeys: signer.serverKeys },
      work,
    );
    const agent = await Agent.create(config, { amplifier, exit: () => undefined });
    try {
      await agent.start();
      await until('online', () => obs.seen.some((m) => m.topic.endsWith('/status')));
      const startAt = Date.now() + 1500;
      const state = {
        v: 1, deviceId: 'd1', version: 1, issuedAt: new Date().toISOString(), horizonUntil: new Date(Date.now() + 3600_000).toISOString(),
        plays: [{ playId: 'p1', scheduleId: 's', contentId: 'tone', sha256: sha, url: content.url('tone'), durationMs: 3000, startAt: new Date(startAt).toISOString(), priority: 'normal' }],
      };
      await obs.publishAsync('loalang/v1/dev/d1/desired', signer.seal('d1', 'desired', state), { qos: 1 });
      await until('playing', () => Date.now() > startAt + 800, 5000);
      expect(sim.state.power).toBe(true);

      await sim.stop().catch(() => undefined);
      await pty.stop(); // unplugged mid-play
      const events = () => obs.seen.filter((m) => m.topic.endsWith('/event')).map((m) => m.payload as DeviceEvent);
      await until('condition raised', () => events().some((e) => e.kind === 'amp-link' && e.active));

      await until('report', () => obs.seen.some((m) => m.topic.endsWith('/report')), 8000);
      const report = obs.seen.find((m) => m.topic.endsWith('/report'))!.payload as PlayReport;
      expect(report.status).toBe('completed'); // the audio went on without the board link

      await pty.start(); // plugged back in
      sim = new BoardSimulator(new NodeSerialLink(pty.b, 115200));
      await sim.start();
      await until('condition cleared', () => events().some((e) => e.kind === 'amp-link' && !e.active));
      expect(amplifier.counters().reconnects).toBeGreaterThanOrEqual(1);
      expect((await amplifier.status()).faults).toEqual([]);
    } finally {
      await agent.stop();
      await sim.stop().catch(() => undefined);
      await pty.stop();
      await obs.endAsync();
      await broker.close();
      await content.close();
    }
  }, 30_000);
});
