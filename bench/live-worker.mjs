// One worker process of bench/live.mjs: a share of the simulated speakers, each a raw MQTT client
// with its device's credentials behind this worker's emulated 4G link (test-kit's link emulator,
// in this process). Each measures its clock against the server as an agent does (ClockSync: a
// burst on connect, `probes` of them, 8 for a speaker that just connected; 16 more on joining the
// session while it has fewer than 24), listens on its areas' live topics, and notes when each frame of the session arrives.
// The first speaker of each worker checks every group's signature, as an agent does (all of them
// checking would measure this process, not the fan-out). Also, for the reference, the same
// clients' twins subscribed to a Mosquitto topic note when each relayed group arrives.
import mqtt from 'mqtt';
import { bytesSignatureValid, parseEnvelope, parseFrameGroup, systemClock, silentLogger } from '../protocol/dist/index.js';
import { ClockSync, LIVE_CLOCK_BURST, LIVE_CLOCK_FOLLOW_MS, LIVE_CLOCK_PROBES } from '../edge-agent/dist/link/clock-sync.js';
import { startLink } from '../test-kit/src/link-emulator.mjs';

const now = () => performance.timeOrigin + performance.now();
const speakers = [];
const reference = { arrivals: [] }; // [sentAt, arrivedAt] of groups relayed by Mosquitto
let link = null;
let mosquittoLink = null;

async function connect(url, d) {
  const client = mqtt.connect(url, { clientId: d.id, username: d.id, password: d.secret, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 60_000 });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  return client;
}

async function addSpeaker(url, d, check, key) {
  const client = await connect(url, d);
  const s = { id: d.id, anchorMs: null, arrivals: new Map(), refused: 0, checked: check, sync: null };
  s.sync = new ClockSync({ clock: systemClock, logger: silentLogger, send: (t0) => client.publishAsync(`loalang/v1/dev/${d.id}/time`, JSON.stringify({ v: 1, t0 }), { qos: 0 }), burst: 8, gapMs: 100 });
  client.on('message', (topic, payload) => {
    const at = now();
    if (topic.endsWith('/time/reply')) {
      const e = parseEnvelope(payload);
      if (e.ok) s.sync.onReply(e.value.body, at);
    } else if (topic.endsWith('/live/audio')) {
      const g = parseFrameGroup(payload);
      if (!g.ok) return void s.refused++;
      if (check && !bytesSignatureValid(g.value.signed, g.value.signature, key.publicKey)) return void s.refused++;
      g.value.frames.forEach((_, i) => {
        const index = g.value.firstIndex + i;
        if (!s.arrivals.has(index)) s.arrivals.set(index, at);
      });
    } else if (topic.endsWith('/live')) {
      const e = parseEnvelope(payload);
      if (e.ok && e.value.body?.type === 'live' && s.anchorMs === null) {
        s.anchorMs = e.value.body.anchorMs;
        // As an agent does on joining: measure the clock again unless it has enough probes, and
        // follow it while the session plays.
        if (s.sync.probeCount() < LIVE_CLOCK_PROBES) void s.sync.burst(LIVE_CLOCK_BURST.probes, LIVE_CLOCK_BURST.gapMs);
        s.sync.follow(LIVE_CLOCK_FOLLOW_MS);
      }
    }
  });
  await client.subscribeAsync([`loalang/v1/dev/${d.id}/#`], { qos: 1 });
  await client.subscribeAsync(d.areaIds.map((a) => `loalang/v1/area/${a}/live/#`), { qos: 0 });
  s.client = client;
  speakers.push(s);
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      link = await startLink({ target: { port: m.port }, profile: m.profile });
      for (const [i, d] of m.devices.entries()) await addSpeaker(link.url('mqtt'), d, i === 0, m.key);
      // Clocks measured as an agent does on connect.
      await Promise.all(speakers.map((s) => s.sync.burst(m.probes, 100)));
      if (m.mosquittoPort) {
        mosquittoLink = await startLink({ target: { port: m.mosquittoPort }, profile: m.profile });
        for (const d of m.devices) {
          const c = mqtt.connect(mosquittoLink.url('mqtt'), { clientId: `ref-${d.id}`, clean: true, reconnectPeriod: 0 });
          await new Promise((r) => c.once('connect', r));
          c.on('message', (_t, payload) => reference.arrivals.push([payload.readDoubleBE(0), now()]));
          await c.subscribeAsync('reference/live/audio', { qos: 0 });
          speakers.find((s) => s.id === d.id).reference = c;
        }
      }
      process.send({ id: m.id, connected: speakers.length });
    } else if (m.cmd === 'report') {
      process.send({
        id: m.id,
        speakers: speakers.map((s) => ({ id: s.id, aheadMs: s.sync.deviceAheadMs() ?? null, anchorMs: s.anchorMs, refused: s.refused, checked: s.checked, arrivals: [...s.arrivals] })),
        reference: reference.arrivals,
      });
    } else if (m.cmd === 'close') {
      for (const s of speakers) {
        s.sync.stop();
        s.client.end(true);
        s.reference?.end(true);
      }
      await link?.close();
      await mosquittoLink?.close();
      process.send({ id: m.id });
      process.exit(0);
    }
  } catch (err) {
    process.send({ id: m.id, error: err.stack ?? String(err) });
  }
});
