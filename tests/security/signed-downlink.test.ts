/**
 * Signed downlink against a hostile network (issue 8, decision 0016): a real server, real
 * agents in-process, each behind a relay that reads and writes raw MQTT between them. A
 * captured command replayed, changed, sent to another speaker, held past its expiry, or a
 * message forged without the key: each is refused by the speaker, reported, written in the
 * audit log, and the speaker goes on obeying its real server. Then a key rotation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOWNLINK, EnvelopeSigner, newSigningKey, parseEnvelope, type SignedEnvelope } from '@loalang/protocol';
import { shiftedClock, startAgent, startAlertWorld, until, type AlertWorld, type RunningAgent } from '../alert-support.js';
import { MitmRelay } from './mitm.js';

let world: AlertWorld;
let admin: string;
const relays: MitmRelay[] = [];
const agents: RunningAgent[] = [];
/** The first speaker's clock: the test moves it to play an attacker who waited. */
let skewA = 0;

async function behindRelay(name: string, clock = shiftedClock(0)): Promise<{ agent: RunningAgent; relay: MitmRelay }> {
  const relay = new MitmRelay(world.server.mqttPort);
  await relay.start();
  relays.push(relay);
  const agent = await startAgent(world, name, world.communeId, { mqttUrl: `mqtt://127.0.0.1:${relay.port}`, clock });
  agents.push(agent);
  await until(`${name} online`, () => world.server.core.mqtt.isOnline(agent.id));
  return { agent, relay };
}

const body = (payload: Buffer) => {
  const e = parseEnvelope(payload);
  if (!e.ok) throw new Error(e.reason);
  return e.value;
};
const results = (relay: MitmRelay, commandId: string) => relay.uplinks.filter((u) => u.topic.endsWith('/cmd/result') && (JSON.parse(u.payload.toString()) as { commandId: string }).commandId === commandId);

async function command(deviceId: string, type: string, params: Record<string, unknown> = {}): Promise<string> {
  const res = await world.api<{ id: string }>(admin, 'POST', `/devices/${deviceId}/commands`, { type, ...params });
  expect(res.status).toBe(202);
  return res.body.id;
}

async function refusals(deviceId: string): Promise<{ reason: string; kind: string }[]> {
  const res = await world.api<{ target: string; detail: { reason: string; kind: string } }[]>(admin, 'GET', '/audit?action=device-refused-downlink');
  return res.body.filter((e) => e.target === deviceId).map((e) => e.detail);
}

beforeAll(async () => {
  world = await startAlertWorld();
  await world.addUser('quan-tri', 'admin', world.provinceId);
  admin = await world.token('quan-tri');
}, 30_000);

afterAll(async () => {
  for (const a of agents) await a.agent.stop().catch(() => undefined);
  for (const r of relays) await r.stop();
  await world?.close();
});

describe('signed downlink', () => {
  let a: { agent: RunningAgent; relay: MitmRelay };
  let b: { agent: RunningAgent; relay: MitmRelay };
  let captured: Buffer;

  beforeAll(async () => {
    a = await behindRelay('loa-a', { ...shiftedClock(0), now: () => Date.now() + skewA });
    // B's clock is ten minutes slow: everything it receives looks early until it has measured the offset.
    b = await behindRelay('loa-b', shiftedClock(-600_000));
  }, 30_000);

  it('a speaker whose clock is ten minutes off holds its first programme until it has measured the offset, then takes it', async () => {
    const expected = (await world.server.core.desired.refresh(b.agent.id)).state.version;
    await until('B applied its desired state', async () => (await world.server.core.devices.get(b.agent.id))?.reportedVersion === expected);
    expect(await refusals(b.agent.id)).toEqual([]);
    const id = await command(b.agent.id, 'volume', { volume: 30 });
    await until('B answered', () => results(b.relay, id).length === 1);
    expect(JSON.parse(results(b.relay, id)[0]!.payload.toString())).toMatchObject({ ok: true });
  });

  it('obeys a signed command, and everything the server sends it is signed', async () => {
    const id = await command(a.agent.id, 'volume', { volume: 35 });
    await until('A answered', () => results(a.relay, id).length === 1);
    expect(JSON.parse(results(a.relay, id)[0]!.payload.toString())).toMatchObject({ ok: true, result: { volume: 35 } });
    captured = a.relay.last('/cmd').payload;
    const env = body(captured);
    expect(env).toMatchObject({ kind: 'cmd', to: `dev/${a.agent.id}`, kid: world.server.core.signer.kid, body: { commandId: id } });
    // Its own uplinks come back on its `#` subscription; everything else is from the server.
    const fromServer = a.relay.downlinks.filter((d) => DOWNLINK.some((kind) => d.topic.endsWith(`/${a.agent.id}/${kind}`)));
    expect(new Set(fromServer.map((d) => d.topic.split('/').slice(4).join('/')))).toEqual(new Set(['desired', 'time/reply', 'cmd']));
    for (const d of fromServer) expect(parseEnvelope(d.payload).ok).toBe(true);
  });

  it('refuses the captured command replayed', async () => {
    const commandId = (body(captured).body as { commandId: string }).commandId;
    a.relay.inject(a.relay.last('/cmd').topic, captured);
    await until('replay reported', async () => (await refusals(a.agent.id)).some((r) => r.reason === 'replayed'));
    expect(results(a.relay, commandId)).toHaveLength(1); // not carried out a second time
  });

  it('refuses it changed: another volume, a longer life, another sequence', async () => {
    const env = body(captured);
    const changes: Partial<SignedEnvelope>[] = [{ body: { ...(env.body as object), params: { volume: 100 } } }, { exp: env.exp + 3600_000 }, { seq: env.seq + 1_000_000 }];
    for (const change of changes) a.relay.inject(a.relay.last('/cmd').topic, JSON.stringify({ ...env, ...change }));
    await until('three forgeries reported', async () => (await refusals(a.agent.id)).filter((r) => r.reason === 'bad-signature').length === 3);
  });

  it("refuses another speaker's command sent to it", async () => {
    const id = await command(b.agent.id, 'amp-test');
    await until('B answered', () => results(b.relay, id).length === 1);
    a.relay.inject(`loalang/v1/dev/${a.agent.id}/cmd`, b.relay.last('/cmd').payload);
    await until('wrong recipient reported', async () => (await refusals(a.agent.id)).some((r) => r.reason === 'wrong-recipient'));
    expect(results(a.relay, id)).toHaveLength(0);
  });

  it('refuses a command the attacker held back until after its expiry', async () => {
    a.relay.withhold = (topic) => topic.endsWith('/cmd');
    const id = await command(a.agent.id, 'volume', { volume: 90 });
    await until('captured', () => a.relay.downlinks.some((d) => d.topic.endsWith('/cmd') && (body(d.payload).body as { commandId: string }).commandId === id));
    a.relay.withhold = () => false;
    skewA = 6 * 60_000; // six minutes later, as the speaker measures server time
    a.relay.inject(a.relay.last('/cmd').topic, a.relay.last('/cmd').payload);
    await until('expiry reported', async () => (await refusals(a.agent.id)).some((r) => r.reason === 'expired'));
    expect(results(a.relay, id)).toHaveLength(0);
    skewA = 0;
  });

  it('refuses unsigned messages and messages signed by any other key', async () => {
    const topic = `loalang/v1/dev/${a.agent.id}/cmd`;
    const cmd = { v: 1, commandId: 'forged-1', type: 'volume', issuedAt: new Date().toISOString(), params: { volume: 100 } };
    a.relay.inject(topic, JSON.stringify(cmd));
    const stranger = new EnvelopeSigner(newSigningKey().privateKeyPem);
    a.relay.inject(topic, stranger.seal({ kind: 'cmd', to: `dev/${a.agent.id}`, iat: Date.now(), exp: Date.now() + 60_000, seq: Number.MAX_SAFE_INTEGER, body: { ...cmd, commandId: 'forged-2' } }));
    // An alert on the area topic, forged the same way.
    a.relay.inject(`loalang/v1/area/${world.communeId}/alert`, JSON.stringify({ v: 1, type: 'cancel', alertId: 'x', at: new Date().toISOString() }));
    await until('forgeries reported', async () => {
      const reasons = (await refusals(a.agent.id)).map((r) => `${r.kind}:${r.reason}`);
      return reasons.includes('cmd:unsigned') && reasons.includes('cmd:unknown-key') && reasons.includes('alert:unsigned');
    });
    expect(a.relay.uplinks.filter((u) => u.topic.endsWith('/cmd/result') && u.payload.toString().includes('forged'))).toHaveLength(0);
  });

  it('counts the refusals in /metrics and still obeys its real server', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${world.server.httpPort}/metrics`)).text();
    for (const reason of ['replayed', 'bad-signature', 'wrong-recipient', 'expired', 'unsigned', 'unknown-key']) {
      expect(metrics).toMatch(new RegExp(`loalang_downlinks_refused_total\\{reason="${reason}"\\} [1-9]`));
    }
    const id = await command(a.agent.id, 'volume', { volume: 40 });
    await until('A answered', () => results(a.relay, id).length === 1);
    expect(JSON.parse(results(a.relay, id)[0]!.payload.toString())).toMatchObject({ ok: true, result: { volume: 40 } });
  });

  it('rotates the signing key: devices learn the next key, then obey it, also after a restart', async () => {
    const oldKid = world.server.core.signer.kid;
    const next = await world.api<{ kid: string; state: string }>(admin, 'POST', '/signing-keys');
    expect(next).toMatchObject({ status: 201, body: { state: 'next' } });
    // Online devices get their desired state again, now listing both keys.
    await until('A was told the next key', () => a.relay.downlinks.some((d) => d.topic.endsWith('/desired') && ((body(d.payload).body as { serverKeys?: unknown[] }).serverKeys?.length ?? 0) === 2));
    await new Promise((r) => setTimeout(r, 300)); // applied
    const activated = await world.api<{ state: string }>(admin, 'POST', `/signing-keys/${next.body.kid}/activate`);
    expect(activated).toMatchObject({ status: 200, body: { state: 'active' } });
    expect(world.server.core.signer.kid).toBe(next.body.kid);
    const keys = await world.api<{ keys: { kid: string; state: string }[] }>(admin, 'GET', '/signing-keys');
    expect(keys.body.keys.find((k) => k.kid === oldKid)?.state).toBe('retired');

    const id = await command(a.agent.id, 'volume', { volume: 45 });
    await until('A answered under the new key', () => results(a.relay, id).length === 1);
    expect(body(a.relay.last('/cmd').payload).kid).toBe(next.body.kid);

    // Its config still pins only the old key; what it learned was kept.
    await a.agent.agent.stop();
    await a.agent.restart();
    await until('A back', () => world.server.core.mqtt.isOnline(a.agent.id));
    const after = await command(a.agent.id, 'volume', { volume: 50 });
    await until('A answered after restart', () => results(a.relay, after).length === 1);
    expect(JSON.parse(results(a.relay, after)[0]!.payload.toString())).toMatchObject({ ok: true });

    // A message still signed by the retired key (captured before) is now refused as unknown.
    a.relay.inject(a.relay.last('/cmd').topic, captured);
    await until('old key refused', async () => (await refusals(a.agent.id)).some((r) => r.reason === 'unknown-key' && r.kind === 'cmd'));
  });

  it('lets only an admin of the top area touch the keys', async () => {
    await world.addUser('qt-xa', 'admin', world.communeId);
    const local = await world.token('qt-xa');
    expect((await world.api(local, 'POST', '/signing-keys')).status).toBe(403);
    await world.addUser('nv-xa', 'operator', world.provinceId);
    expect((await world.api(await world.token('nv-xa'), 'GET', '/signing-keys')).status).toBe(403);
  });
});
