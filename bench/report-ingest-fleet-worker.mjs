// One worker process of bench/report-ingest-fleet.mjs: the simulated speakers, each an mqtt.js
// client with its own credentials, subscribed to its report acks. On `round` every one publishes
// its reports (QoS 1) at once, in batches or one by one; the reply says how long until every application ack was back.
// Driven by messages from the parent over IPC.
import mqtt from 'mqtt';

/** { client, id, reports: { warmup: string[], round0: string[], … } } per device. */
let fleet = [];
/** The round under way: acks still expected, and what to do when none are. */
let round = null;

/** `acksMany`: the speaker announces `report-ack-many` in its online status, as agents do since issue 16. */
async function connectOne(url, d, acksMany) {
  const client = mqtt.connect(url, { clientId: d.id, username: d.id, password: d.secret, clean: true, keepalive: 300, reconnectPeriod: 0, connectTimeout: 120_000 });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${d.id}: closed before connect`)));
  });
  client.on('error', () => undefined);
  // Every message on this topic is one application ack: the rows of the reports it names are committed (or refused for good).
  client.on('message', (_topic, payload) => {
    if (!round) return;
    const ack = JSON.parse(payload.toString()).body; // the signed envelope's body is the ReportAck
    round.acks += 1 + (ack.moreReportIds?.length ?? 0);
    round.messages++;
    if (round.acks === round.expected) round.done();
  });
  // As the agent: the retained online status first, then the subscription.
  const status = { v: 1, state: 'online', at: new Date().toISOString(), ...(acksMany ? { features: ['report-ack-many'] } : {}) };
  await client.publishAsync(`loalang/v1/dev/${d.id}/status`, JSON.stringify(status), { qos: 1, retain: true });
  await client.subscribeAsync(`loalang/v1/dev/${d.id}/report/ack`, { qos: 1 });
  return { client, id: d.id, reports: d.reports };
}

/** Connects all, a few at a time (each first connect costs the server one argon2 check). */
async function connectAll(url, devices, acksMany, lanes = 16) {
  const out = new Array(devices.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let i = next++; i < devices.length; i = next++) out[i] = await connectOne(url, devices[i], acksMany);
    }),
  );
  return out;
}

/** `which`: the reports sent (a key of each device's `reports`); `batch`: reports per message. */
function runRound(timeoutMs, which, batch) {
  const expected = fleet.reduce((n, d) => n + d.reports[which].length, 0);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const cpuS = () => {
      const c = process.cpuUsage(cpu0);
      return (c.user + c.system) / 1e6;
    };
    const timer = setTimeout(() => {
      const { acks, messages } = round;
      round = null;
      resolve({ ms: performance.now() - t0, acks, messages, expected, timedOut: true, cpuS: cpuS() });
    }, timeoutMs);
    round = {
      expected,
      acks: 0,
      messages: 0,
      done: () => {
        clearTimeout(timer);
        const ms = performance.now() - t0;
        const { messages } = round;
        round = null;
        resolve({ ms, acks: expected, messages, expected, timedOut: false, cpuS: cpuS() });
      },
    };
    // Every speaker sends its whole outbox at once, as a fleet does when the server comes back:
    // in messages of up to `batch` reports on `reports` (agents to a server naming `report-batch`
    // in its time replies), or one message per report on `report` (`batch` 1: agents before it).
    for (const d of fleet) {
      const reports = d.reports[which];
      if (batch === 1) for (const r of reports) d.client.publish(`loalang/v1/dev/${d.id}/report`, r, { qos: 1 });
      else for (let i = 0; i < reports.length; i += batch) d.client.publish(`loalang/v1/dev/${d.id}/reports`, `{"v":1,"reports":[${reports.slice(i, i + batch).join(',')}]}`, { qos: 1 });
    }
  });
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') {
      fleet = await connectAll(m.url, m.devices, m.acksMany);
      process.send({ id: m.id, connected: fleet.length });
    } else if (m.cmd === 'round') {
      process.send({ id: m.id, ...(await runRound(m.timeoutMs, m.which, m.batch)) });
    } else if (m.cmd === 'end') {
      await Promise.all(fleet.map((d) => d.client.endAsync().catch(() => undefined)));
      fleet = [];
      process.send({ id: m.id });
    }
  } catch (err) {
    process.send({ id: m.id, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
