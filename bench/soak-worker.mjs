// One worker process of bench/soak.mjs: a share of the simulated speakers, each an mqtt.js client
// with its own credentials speaking the real protocol as an agent does. It announces itself online
// (retained, naming `report-ack-many`), takes its desired state (the signed envelope's body; the
// signature is not checked: thousands of checks here would measure this process, not the server)
// and answers `reported` with its version; at each play's end it sends the play's report (`reports`,
// QoS 1) and counts the acks; every minute, at its own phase, it sends health (`telemetry`).
// Driven by messages from the parent over IPC.
import mqtt from 'mqtt';

const speakers = [];
const counts = { desired: 0, reportsSent: 0, reportsAcked: 0, telemetry: 0, reconnects: 0, errors: 0 };
let stopping = false;
const startedAt = Date.now();

function publish(s, topic, body, qos = 1, retain = false) {
  s.client.publish(`loalang/v1/dev/${s.id}/${topic}`, JSON.stringify(body), { qos, retain }, (err) => {
    if (err && !stopping) counts.errors++;
  });
}

/** Arms a timer at each play's end (once per play, whatever the versions), then reports it. */
function onDesired(s, state) {
  counts.desired++;
  publish(s, 'reported', { v: 1, version: state.version, at: new Date().toISOString(), cachedContentIds: [...new Set(state.plays.map((p) => p.contentId))], missingContentIds: [], agentVersion: 'soak' });
  for (const p of state.plays) {
    if (s.armed.has(p.playId)) continue;
    const end = Date.parse(p.startAt) + p.durationMs;
    if (end - Date.now() > 2 ** 31 - 1 || end < Date.now()) continue;
    s.armed.set(
      p.playId,
      setTimeout(() => {
        s.armed.delete(p.playId);
        if (stopping) return;
        const report = { v: 1, reportId: `${s.id}-${p.playId}`, playId: p.playId, scheduleId: p.scheduleId, contentId: p.contentId, status: 'completed', scheduledAt: p.startAt, startedAt: p.startAt, endedAt: new Date(end).toISOString(), playedMs: p.durationMs };
        counts.reportsSent++;
        publish(s, 'reports', { v: 1, reports: [report] });
      }, end - Date.now()),
    );
  }
}

function telemetry(s) {
  counts.telemetry++;
  publish(s, 'telemetry', {
    v: 1,
    at: new Date().toISOString(),
    agentVersion: 'soak',
    uptimeSec: Math.round((Date.now() - startedAt) / 1000),
    desiredVersion: s.version,
    playing: null,
    outboxPending: 0,
    clockOffsetMs: 1.5,
    diskFreeBytes: 4_000_000_000,
    diskTotalBytes: 8_000_000_000,
    cpuLoad1: 0.3,
    cpuCount: 4,
    memUsedBytes: 300_000_000,
    memTotalBytes: 1_000_000_000,
    agentRssBytes: 60_000_000,
  }, 0);
}

async function connectOne(url, d, telemetryMs) {
  const s = { id: d.id, client: null, version: 0, armed: new Map(), telemetryTimer: null };
  const client = mqtt.connect(url, { clientId: d.id, username: d.id, password: d.secret, clean: true, keepalive: 60, reconnectPeriod: 5000 + Math.random() * 5000, connectTimeout: 120_000 });
  s.client = client;
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.on('error', () => void counts.errors++);
  client.on('connect', () => {
    counts.reconnects++;
    void online(s);
  });
  client.on('message', (topic, payload) => {
    let msg;
    try {
      msg = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (topic.endsWith('/desired')) {
      s.version = msg.body.version;
      onDesired(s, msg.body);
    } else if (topic.endsWith('/report/ack')) counts.reportsAcked += 1 + (msg.body.moreReportIds?.length ?? 0);
  });
  await online(s);
  // Health every minute, each speaker at its own phase, as boxes started at different times do.
  setTimeout(() => {
    if (stopping) return;
    telemetry(s);
    s.telemetryTimer = setInterval(() => !stopping && telemetry(s), telemetryMs);
  }, Math.random() * telemetryMs);
  return s;
}

async function online(s) {
  await s.client.publishAsync(`loalang/v1/dev/${s.id}/status`, JSON.stringify({ v: 1, state: 'online', at: new Date().toISOString(), features: ['report-ack-many'] }), { qos: 1, retain: true });
  await s.client.subscribeAsync(`loalang/v1/dev/${s.id}/#`, { qos: 1 });
}

/** Connects all, a few at a time (each first connect costs the server one argon2 check). */
async function connectAll(url, devices, telemetryMs, lanes = 16) {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let i = next++; i < devices.length; i = next++) {
        try {
          speakers.push(await connectOne(url, devices[i], telemetryMs));
        } catch {
          failed++;
        }
      }
    }),
  );
  return { connected: speakers.length, failed };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') process.send({ id: m.id, ...(await connectAll(m.url, m.devices, m.telemetryMs)) });
    else if (m.cmd === 'counts') process.send({ id: m.id, ...counts, reconnects: counts.reconnects, speakers: speakers.length });
    else if (m.cmd === 'end') {
      stopping = true;
      for (const s of speakers) {
        clearInterval(s.telemetryTimer);
        for (const t of s.armed.values()) clearTimeout(t);
      }
      await Promise.all(speakers.map((s) => s.client.endAsync().catch(() => undefined)));
      process.send({ id: m.id });
    }
  } catch (err) {
    process.send({ id: m.id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
