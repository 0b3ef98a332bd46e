// One worker process of bench/alert-fanout.mjs: holds a share of the simulated speakers as raw
// MQTT clients speaking the real protocol. Each one listens on its device topic and its areas'
// alert topics, notes when an alert arrives (epoch ms, µs resolution) and answers `received`
// (QoS 1) as an agent does. Driven by messages from the parent over IPC.
import mqtt from 'mqtt';

const clients = new Map(); // label → [{ client, id }]
const receipts = new Map(); // round key → epoch ms list
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

async function connectAll(label, url, devices, withAuth, concurrency = 64) {
  const list = clients.get(label) ?? [];
  clients.set(label, list);
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < devices.length) {
      const d = devices[next++];
      try {
        list.push(await connectOne(url, d, withAuth));
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
    if (m.cmd === 'connect') process.send({ id: m.id, ...(await connectAll(m.label, m.url, m.devices, m.auth)) });
    else if (m.cmd === 'collect') {
      process.send({ id: m.id, receipts: receipts.get(m.key) ?? [], payload: firstPayload });
      receipts.delete(m.key);
    } else if (m.cmd === 'close') {
      const list = clients.get(m.label) ?? [];
      await Promise.all(list.map((c) => c.client.endAsync().catch(() => undefined)));
      clients.delete(m.label);
      process.send({ id: m.id, closed: list.length });
    } else if (m.cmd === 'exit') process.exit(0);
  } catch (err) {
    process.send({ id: m.id, error: String(err) });
  }
});
