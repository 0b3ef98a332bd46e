/**
 * The agent's own rhythms on a manual clock (telemetry, the clock-sync bursts, the content
 * retry backoff) with real peers: only the network runs on real time, and only for as long as
 * a message takes to cross it. agent.test.ts runs the agent wholly on real time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, type DesiredState } from '@loalang/protocol';
import { Agent } from '../src/agent.js';
import { parseAgentConfig } from '../src/config.js';
import { FakeAmplifier, untilWithin } from '@loalang/test-kit';
import { observer, startBroker, startContentServer, testSigner, type ContentServer } from './peers.js';

const DEVICE = 'dev-t';
const PASSWORD = 'pw';
const signer = testSigner();
let work: string;
let content: ContentServer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'loalang-agent-timers-'));
  content = await startContentServer({}, { user: DEVICE, password: PASSWORD }); // every download fails (404)
});
afterAll(async () => {
  await content.close();
  rmSync(work, { recursive: true, force: true });
});

/** Waits in real time for what the network carries (the clock does not move meanwhile). */
const until = untilWithin({ timeoutMs: 5000, intervalMs: 5 });

/** An agent on a manual clock, online with a real broker. */
async function startAgent(name: string) {
  const broker = await startBroker();
  const obs = await observer(broker.port);
  const clock = new ManualClock(Date.now());
  const T = clock.now();
  const config = parseAgentConfig(
    { deviceId: DEVICE, password: PASSWORD, mqttUrl: `mqtt://127.0.0.1:${broker.port}`, httpUrl: 'http://127.0.0.1', cacheDir: join(work, name), serial: { simulate: true }, audioSink: 'null', telemetryIntervalSec: 60, serverKeys: signer.serverKeys },
    work,
  );
  const agent = await Agent.create(config, { amplifier: new FakeAmplifier(), clock, exit: () => undefined });
  const seen = <T = unknown>(kind: string) => obs.seen.filter((m) => m.topic === `loalang/v1/dev/${DEVICE}/${kind}`).map((m) => m.payload as T);
  /** Moves the clock to `at` once the agent has armed a timer there (its network work done). */
  const advanceTo = async (what: string, at: number) => {
    await until(what, () => clock.dueTimes.includes(at)).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}: timers due at +${clock.dueTimes.map((t) => t - clock.now()).join(', +')} ms, not +${at - clock.now()}`);
    });
    await clock.advanceAsync(at - clock.now());
  };
  await agent.start();
  await until('online', () => seen('status').length > 0);
  /** The connect's burst: 8 probes 250 ms apart on the clock; telemetry once it is over. */
  const burst = async () => {
    for (let k = 1; k <= 8; k++) {
      await until(`probe ${k}`, () => seen('time').length === k);
      expect(seen('telemetry')).toHaveLength(0);
      await advanceTo(`gap ${k}`, T + 250 * k);
    }
    await until('telemetry after the burst', () => seen('telemetry').length === 1);
  };
  const stop = async () => {
    await agent.stop();
    await obs.endAsync();
    await broker.close();
  };
  const downlink = (kind: string, payload: Buffer) => obs.publishAsync(`loalang/v1/dev/${DEVICE}/${kind}`, payload, { qos: 1 });
  return { clock, T, seen, advanceTo, burst, downlink, stop };
}

describe('agent timers on a manual clock', () => {
  it('probes the clock 250 ms apart on connect, then sends telemetry, then every 60 s', async () => {
    const { clock, T, seen, burst, stop } = await startAgent('telemetry');
    try {
      await burst();
      expect(seen<{ t0: number }>('time').map((p) => p.t0 - T)).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750]);
      await clock.advanceAsync(T + 60_000 - 1 - clock.now());
      await new Promise((r) => setTimeout(r, 20));
      expect(seen('telemetry')).toHaveLength(1);
      await clock.advanceAsync(1);
      await until('telemetry at 60 s', () => seen('telemetry').length === 2);
      await clock.advanceAsync(60_000);
      await until('telemetry at 120 s', () => seen('telemetry').length === 3);
      expect(seen<{ at: string; uptimeSec: number }>('telemetry').map((t) => [Date.parse(t.at) - T, t.uptimeSec])).toEqual([[2000, 2], [60_000, 60], [120_000, 120]]);
    } finally {
      await stop();
    }
  });

  it('retries a download that failed after 2 s, then 4 s, then 8 s', async () => {
    const { clock, seen, advanceTo, burst, downlink, stop } = await startAgent('retry');
    try {
      await burst();
      const state: DesiredState = {
        v: 1, deviceId: DEVICE, version: 1, issuedAt: new Date(clock.now()).toISOString(), horizonUntil: new Date(clock.now() + 86400_000).toISOString(),
        plays: [{ playId: 'p1', scheduleId: 's', contentId: 'gone', sha256: 'a'.repeat(64), url: content.url('gone'), durationMs: 1000, startAt: new Date(clock.now() + 3600_000).toISOString(), priority: 'normal' }],
      };
      content.requests.length = 0;
      const sig = signer.seal(DEVICE, 'desired', state, { iat: clock.now() });
      const missing = () => seen<{ missingContentIds: string[] }>('reported').filter((r) => r.missingContentIds.includes('gone')).length;
      await downlink('desired', sig);
      await until('first download', () => content.requests.length === 1);
      await until('reported as missing', () => missing() === 1);
      let at = clock.now();
      for (const [wait, n] of [[2000, 2], [4000, 3], [8000, 4]] as const) {
        at += wait;
        await advanceTo(`retry ${n - 1} armed ${wait} ms on`, at);
        await until(`download ${n}`, () => content.requests.length === n);
        await until(`answer ${n}`, () => missing() === n);
      }
      expect(content.requests.every((r) => r.range === undefined)).toBe(true);
    } finally {
      await stop();
    }
  });
});
