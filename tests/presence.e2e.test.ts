/**
 * Presence with real processes: an agent killed goes offline at once (its socket closes), an
 * agent frozen with SIGSTOP (a half-open link, no last will) goes offline through missed
 * heartbeats within 1.5× its keepalive, and comes back online after SIGCONT. Every
 * transition is kept in the device's history.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLink } from '@loalang/test-kit';
import { addDevice, api, requireTool, startCli, startServerProc, until, type Proc } from './support.js';

const haveTools = requireTool('ffmpeg');
const PASSWORD = 'presence-admin-pass';
const KEEPALIVE_SEC = 2;

describe.skipIf(!haveTools)('presence of a real agent process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-presence-'));
  let server: Proc | undefined;
  let agent: Proc | undefined;
  afterAll(async () => {
    if (agent?.child.pid && agent.child.exitCode === null) agent.child.kill('SIGCONT');
    await agent?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('goes offline when killed, when frozen (missed heartbeats), and online again', async () => {
    const s = await startServerProc(join(dir, 'server'), PASSWORD);
    server = s.proc;
    const { base, token } = s;
    const device = { body: await addDevice(s, 'Loa đầu cầu', s.rootAreaId) };
    const config = join(dir, 'agent.json');
    writeFileSync(config, JSON.stringify({ ...device.body.agentConfig, cacheDir: join(dir, 'agent'), serial: { simulate: true }, audioSink: 'null', keepaliveSec: KEEPALIVE_SEC }));
    type Device = { online: boolean; presenceHistory: { online: boolean; cause: string; at: string }[] };
    const get = async () => (await api<Device>(base, `/api/v1/devices/${device.body.id}`, { token })).body;
    const startAgent = () => startCli(['agent', '--config', config], { LOALANG_LOG_LEVEL: 'warn' });
    const timeUntil = async (online: boolean, limitMs: number) => {
      const t0 = Date.now();
      await until(online ? 'online' : 'offline', limitMs, async () => (await get()).online === online);
      return Date.now() - t0;
    };

    agent = startAgent();
    await timeUntil(true, 15_000);

    // Frozen: the TCP link stays open, no will is sent; only the missing pings tell.
    agent.child.kill('SIGSTOP');
    const frozenMs = await timeUntil(false, 10_000);
    process.stdout.write(`presence: frozen agent seen offline after ${frozenMs} ms (keepalive ${KEEPALIVE_SEC} s)\n`);
    expect(frozenMs).toBeLessThanOrEqual(1.5 * KEEPALIVE_SEC * 1000 + 1000); // + the poll period and broker timer slack
    expect((await get()).presenceHistory[0]).toMatchObject({ online: false, cause: 'missed-heartbeats' });

    agent.child.kill('SIGCONT');
    const backMs = await timeUntil(true, 15_000);
    process.stdout.write(`presence: back online ${backMs} ms after SIGCONT\n`);

    // Killed: the kernel closes its socket, so the server knows at once.
    agent.child.kill('SIGKILL');
    const killedMs = await timeUntil(false, 10_000);
    process.stdout.write(`presence: killed agent seen offline after ${killedMs} ms\n`);
    expect(killedMs).toBeLessThanOrEqual(1.5 * KEEPALIVE_SEC * 1000);
    agent = undefined;

    // `online` is the broker's own view; the history row comes with the next batch of presence writes (presence-writes.ts), a moment later.
    const historyOf = async () => (await get()).presenceHistory.map((h) => `${h.online ? 'online' : 'offline'}:${h.cause}`);
    await until('the disconnect in the history', 5_000, async () => (await historyOf())[0] === 'offline:disconnect');
    const history = await historyOf();
    expect(history.slice(0, 4)).toEqual(['offline:disconnect', 'online:connect', 'offline:missed-heartbeats', 'online:connect']);
  }, 90_000);

  it('goes offline within 1.5× keepalive when its link goes half-open, and the agent reconnects by itself', async () => {
    const s = await startServerProc(join(dir, 'server-link'), PASSWORD);
    const serverProc = s.proc;
    const { base, token } = s;
    const device = await addDevice(s, 'Loa sau trạm 4G', s.rootAreaId);
    // The agent reaches the broker through an emulated rural 4G link (test-kit's link emulator).
    const brokerUrl = new URL(device.agentConfig.mqttUrl as string);
    const link = await startLink({ target: { host: brokerUrl.hostname, port: Number(brokerUrl.port) }, profile: 'rural4g' });
    const config = join(dir, 'agent-link.json');
    writeFileSync(config, JSON.stringify({ ...device.agentConfig, mqttUrl: link.url('mqtt'), cacheDir: join(dir, 'agent-link'), serial: { simulate: true }, audioSink: 'null', keepaliveSec: KEEPALIVE_SEC }));
    const linked = startCli(['agent', '--config', config], { LOALANG_LOG_LEVEL: 'warn' });
    try {
      type Device = { online: boolean; presenceHistory: { online: boolean; cause: string }[] };
      const get = async () => (await api<Device>(base, `/api/v1/devices/${device.id}`, { token })).body;
      await until('online through the link', 15_000, async () => (await get()).online);
      const connectionsBefore = link.stats().connections;

      // Nothing gets through either way and nobody closes anything: only keepalives can tell.
      link.halfOpen();
      const t0 = Date.now();
      await until('offline', 10_000, async () => !(await get()).online);
      const offlineMs = Date.now() - t0;
      process.stdout.write(`presence: half-open link seen offline after ${offlineMs} ms (keepalive ${KEEPALIVE_SEC} s)\n`);
      expect(offlineMs).toBeLessThanOrEqual(1.5 * KEEPALIVE_SEC * 1000 + 1000); // + the poll period and broker timer slack
      expect((await get()).presenceHistory[0]).toMatchObject({ online: false, cause: 'missed-heartbeats' });
      // The agent notices too (no answer to its pings) and keeps trying: its attempts are accepted and hear nothing.
      await until('the agent trying again on its own', 15_000, async () => link.stats().connections > connectionsBefore);

      link.restore();
      const t1 = Date.now();
      await until('online again', 30_000, async () => (await get()).online);
      process.stdout.write(`presence: back online ${Date.now() - t1} ms after the link came back\n`);
    } finally {
      await linked.stop();
      await link.close();
      await serverProc.stop();
    }
  }, 90_000);
});
