// One worker process of bench/alert-fanout.mjs and bench/cluster-fanout.mjs: holds a share of the
// simulated speakers as raw MQTT clients speaking the real protocol. Each one listens on its device
// topic and its areas' alert topics, notes when an alert arrives (epoch ms, µs resolution) and
// answers `received` (QoS 1) as an agent does. Given `failover` URLs (cluster-fanout), a speaker
// whose connection drops reconnects as an agent does: the next URL, after a jittered backoff (full
// jitter, 1 s doubling to 60 s), and notes when it is back. Driven by messages from the parent over IPC.
import mqtt from 'mqtt';

const clients = new Map(); // label → [{ client, id }]
const receipts = new Map(); // round key → epoch ms list
const returns = []; // epoch ms at which a dropped speaker was connected and subscribed again
const failures = new Map(); // why a reconnect attempt failed (the URL's port, the error) → count
let closing = false;
let firstPayload = null;

const now = () => performance.timeOrigin + performance.now();

function onAlert(client, id, topic, payload) {
  const at = now();
  let msg;
  try {
    msg = JSON.parse(payload.toString());
  } catch {
    return;
  }
  // LoaLang's alerts come in a signed envelope (decision 0016); Mosquitto relays the same bytes.
  // The raw clients read the body without checking the signature: 2,500 checks in one worker
  // process would measure that process, not the fan-out (a real speaker checks only its own).
  const key = (msg.body ?? msg).alertId ?? 'unknown';
  if (!receipts.has(key)) receipts.set(key, []);
  receipts.get(key).push(at);
  firstPayload ??= payload.toString();
  const status = { v: 1, alertId: key, state: 'received', at: new Date().toISOString(), played: 0 };
  client.publish(`loalang/v1/dev/${id}/alert/status`, JSON.stringify(status), { qos: 1 });
}

async function connectOne(url, d, withAuth) {
  const client = mqtt.connect(url, {
    clientId: d.id,
    ...(withAuth ? { username: d.id, password: d.secret } : {}),
    clean: true,
    keepalive: 120,
    reconnectPeriod: 0,
    connectTimeout: 120_000,
  });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before connect')));
  });
  client.on('error', () => undefined);
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/alert')) onAlert(client, d.id, topic, payload);
  });
  await client.subscribeAsync([`loalang/v1/dev/${d.id}/#`], { qos: 1 });
  await client.subscribeAsync(d.areaIds.map((a) => `loalang/v1/area/${a}/alert`), { qos: 0 });
  return { client, id: d.id };
}

/** A speaker that reconnects to the next of `urls` when its connection drops, as an agent does. */
function keepConnected(entry, urls, d, withAuth) {
  let at = urls.indexOf(entry.url);
  const watch = (client) =>
    client.once('close', async () => {
      if (closing) return;
      for (let attempt = 0; !closing; attempt++) {
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(60_000, 1000 * 2 ** attempt)));
        at = (at + 1) % urls.length;
        try {
          const next = await connectOne(urls[at], d, withAuth);
          entry.client = next.client;
          entry.url = urls[at];
          returns.push(now());
          watch(next.client);
          return;
        } catch (err) {
          // That node is away or refused: the next one, after a longer wait.
          const why = `${new URL(urls[at]).port} ${err?.code ?? err?.message ?? err}`;
          failures.set(why, (failures.get(why) ?? 0) + 1);
        }
      }
    });
  watch(entry.client);
}

async function connectAll(label, url, devices, withAuth, failover, concurrency = 64) {
  const list = clients.get(label) ?? [];
  clients.set(label, list);
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < devices.length) {
      const d = devices[next++];
      try {
        const entry = { ...(await connectOne(d.url ?? url, d, withAuth)), url: d.url ?? url };
        list.push(entry);
        if (failover) keepConnected(entry, failover, d, withAuth);
      } catch {
        failed++;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { connected: list.length, failed };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') process.send({ id: m.id, ...(await connectAll(m.label, m.url, m.devices, m.auth, m.failover)) });
    else if (m.cmd === 'count') process.send({ id: m.id, n: receipts.get(m.key)?.length ?? 0 });
    else if (m.cmd === 'returns') process.send({ id: m.id, returns: returns.splice(0), failures: Object.fromEntries(failures) });
    else if (m.cmd === 'collect') {
      process.send({ id: m.id, receipts: receipts.get(m.key) ?? [], payload: firstPayload });
      receipts.delete(m.key);
    } else if (m.cmd === 'close') {
      closing = m.final ?? closing;
      const list = clients.get(m.label) ?? [];
      await Promise.all(list.map((c) => c.client.endAsync().catch(() => undefined)));
      clients.delete(m.label);
      process.send({ id: m.id, closed: list.length });
    } else if (m.cmd === 'exit') process.exit(0);
  } catch (err) {
    process.send({ id: m.id, error: String(err) });
  }
});
