/**
 * Live announcements through a real server core (issue 18, step 4 of decision 0025): a session
 * opened on the node reaches a speaker (a real mqtt.js client in the device's place, through
 * Aedes' ACL) as a signed announcement and signed frame groups on its commune's topics, and a
 * speaker of another commune hears none of it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { ServerCore } from '@loalang/broker';
import { bytesSignatureValid, parseEnvelope, parseFrameGroup, signatureValid, validate, LiveMessage, type ParsedFrameGroup } from '@loalang/protocol';
import { serverDatabase, untilWithin } from '@loalang/test-kit';

let dir: string;
let core: ServerCore;
const clients: MqttClient[] = [];
const until = untilWithin({ timeoutMs: 5000, intervalMs: 20 });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-live-'));
  core = await ServerCore.create({ ...(await serverDatabase()), dataDir: dir, mqttHost: '127.0.0.1', mqttPort: 0, publicHttpUrl: () => 'http://127.0.0.1:9' });
  await core.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true);
  await core.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function speaker(areaIds: string[], areaId: string) {
  const { device, secret } = await core.devices.create({ name: 'Loa', areaId });
  const client = mqtt.connect(`mqtt://127.0.0.1:${core.mqttPort}`, { clientId: device.id, username: device.id, password: secret, clean: true, reconnectPeriod: 0 });
  clients.push(client);
  const heard = { messages: [] as LiveMessage[], groups: [] as ParsedFrameGroup[] };
  const [key] = core.signer.trusted();
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/live/audio')) {
      const group = parseFrameGroup(payload);
      if (!group.ok || !bytesSignatureValid(group.value.signed, group.value.signature, key!.publicKey)) throw new Error('a frame group not signed by the server');
      heard.groups.push(group.value);
    } else if (topic.endsWith('/live')) {
      const e = parseEnvelope(payload);
      if (!e.ok || !signatureValid(e.value, key!.publicKey) || e.value.kind !== 'live') throw new Error('an announcement not signed by the server');
      const message = validate(LiveMessage, e.value.body);
      if (!message.ok) throw new Error(message.reason);
      heard.messages.push(message.value);
    }
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  // As an agent does: its areas' live topics (the ACL allows its own areas only).
  const granted = await client.subscribeAsync(areaIds.map((a) => `loalang/v1/area/${a}/live/#`), { qos: 0 });
  expect(granted.every((g) => g.qos === 0)).toBe(true);
  return heard;
}

describe('a live announcement through the server core', () => {
  it('reaches the speakers of its areas, announced and in signed frame groups, and no one else', async () => {
    const root = await core.areas.create({ name: 'Huyện', parentId: null });
    const communeA = await core.areas.create({ name: 'Xã A', parentId: root.id });
    const communeB = await core.areas.create({ name: 'Xã B', parentId: root.id });
    const inA = await speaker([root.id, communeA.id], communeA.id);
    const inB = await speaker([root.id, communeB.id], communeB.id);

    const session = core.liveAnnouncements.open({ areaIds: [communeA.id], priority: 'priority', title: 'Mất điện chiều nay', createdBy: null });
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) {
      core.liveAnnouncements.feed(session.id, i, Buffer.from(`frame-${i}`));
      await new Promise((r) => setTimeout(r, 20));
    }
    core.liveAnnouncements.end(session.id);
    await until('the end announced to commune A', () => inA.messages.some((m) => m.type === 'live-end'));
    const on = inA.messages.find((m) => m.type === 'live');
    expect(on).toMatchObject({ sessionId: session.id, areaId: communeA.id, priority: 'priority', title: 'Mất điện chiều nay' });
    expect(on?.type === 'live' && on.anchorMs).toBeGreaterThanOrEqual(t0 + 900);
    const frames = inA.groups.flatMap((g) => g.frames.map((f, i) => [g.firstIndex + i, f.toString()] as const));
    expect(frames).toEqual(Array.from({ length: 30 }, (_, i) => [i, `frame-${i}`]));
    expect(inA.messages.at(-1)).toEqual({ v: 1, type: 'live-end', sessionId: session.id, areaId: communeA.id, lastIndex: 29 });
    expect(inB.messages).toEqual([]);
    expect(inB.groups).toEqual([]);
  });
});
