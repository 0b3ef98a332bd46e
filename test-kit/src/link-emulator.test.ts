import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { startLink, type Link } from './link-emulator.mjs';
import { until } from './poll.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP echo server on a free loopback port. */
async function echoServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, server };
}

async function through(link: Link): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port: link.port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  cleanups.push(() => void socket.destroy());
  return socket;
}

function received(socket: Socket): { bytes: Buffer[]; total: () => number; text: () => string } {
  const bytes: Buffer[] = [];
  socket.on('data', (d: Buffer) => bytes.push(d));
  return { bytes, total: () => bytes.reduce((n, b) => n + b.length, 0), text: () => Buffer.concat(bytes).toString() };
}

async function link(port: number, profile?: Parameters<typeof startLink>[0]['profile']): Promise<Link> {
  const l = await startLink({ target: { port }, ...(profile ? { profile } : {}) });
  cleanups.push(() => l.close());
  return l;
}

describe('the link emulator', () => {
  it('delays each direction, and with jitter still delivers every byte in order', async () => {
    const { port } = await echoServer();
    const l = await link(port, { delayMs: 80, jitterMs: 40 });
    const socket = await through(l);
    const got = received(socket);
    const t0 = Date.now();
    socket.write('ping');
    await until('the echo', () => got.text() === 'ping');
    const rtt = Date.now() - t0;
    expect(rtt).toBeGreaterThanOrEqual(80); // 2 × (80 ± 40)
    expect(rtt).toBeLessThan(1_000);
    // 500 numbered writes, each its own segment: jitter makes gaps uneven, never reorders.
    const expected = Array.from({ length: 500 }, (_, i) => `<${i}>`).join('');
    for (let i = 0; i < 500; i++) socket.write(`<${i}>`);
    await until('all 500 back', () => got.text().length === 4 + expected.length);
    expect(got.text()).toBe(`ping${expected}`);
    expect(l.stats()).toMatchObject({ connections: 1, bytesUp: 4 + expected.length, bytesDown: 4 + expected.length });
  });

  it('sends no faster than its rate', async () => {
    const { port } = await echoServer();
    const l = await link(port, { kbps: 800 });
    const socket = await through(l);
    const got = received(socket);
    const t0 = Date.now();
    socket.write(Buffer.alloc(50_000, 1)); // 400 kbit: 0.5 s up, and 0.5 s down behind it
    await until('all of it back', () => got.total() === 50_000, 10_000);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(3_000);
  });

  it('cuts: connections reset, new ones reset at once, until it is restored', async () => {
    const { port } = await echoServer();
    const l = await link(port);
    const socket = await through(l);
    const closed = new Promise<boolean>((resolve) => socket.once('close', (hadError) => resolve(hadError)));
    l.cut();
    expect(await closed).toBe(true);
    const refused = connect({ host: '127.0.0.1', port: l.port });
    await new Promise<void>((resolve) => refused.once('error', () => resolve()).once('close', () => resolve()));
    l.restore();
    const again = await through(l);
    const got = received(again);
    again.write('back');
    await until('an echo after the cut', () => got.text() === 'back');
    expect(l.stats()).toMatchObject({ refused: 1 });
  });

  it('goes half-open: nothing gets through either way and nobody is told, until restore resets them', async () => {
    const { port } = await echoServer();
    const l = await link(port);
    const socket = await through(l);
    const got = received(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    l.halfOpen();
    socket.write('into the void');
    const late = await through(l); // accepted, and then silence
    const lateGot = received(late);
    late.write('hello?');
    await new Promise((r) => setTimeout(r, 400));
    expect(got.total() + lateGot.total()).toBe(0);
    expect(closed).toBe(false);
    expect(l.stats().dropped).toBe('into the void'.length + 'hello?'.length);
    l.restore();
    await until('the half-open connection reset on restore', () => closed);
    const fresh = await through(l);
    const freshGot = received(fresh);
    fresh.write('ok');
    await until('an echo on a new connection', () => freshGot.text() === 'ok');
  });

  it('runs a script, and an MQTT client behind a flapping link finds its broker again', async () => {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => broker.close(() => server.close(() => resolve()))));
    const l = await link((server.address() as { port: number }).port, 'rural4g');
    const client = mqtt.connect(l.url('mqtt'), { clientId: 'loa-1', reconnectPeriod: 200, connectTimeout: 2_000, keepalive: 5 });
    cleanups.push(() => void client.end(true));
    let connects = 0;
    client.on('connect', () => connects++);
    await until('connected through the link', () => connects === 1);
    // Up, a 2 s stall (nothing lost), cut for 0.5 s, back.
    await l.run([{ afterMs: 100, do: 'stall', ms: 2_000 }, { afterMs: 100, do: 'cut' }, { afterMs: 500, do: 'restore' }]);
    await until('connected again after the cut', () => connects === 2, 10_000);
    const got: string[] = [];
    client.on('message', (_t, p) => got.push(p.toString()));
    await client.subscribeAsync('loalang/t', { qos: 1 });
    await client.publishAsync('loalang/t', 'xin chào', { qos: 1 });
    await until('its own message back', () => got.includes('xin chào'));
  });

  it('refuses a profile it cannot follow', async () => {
    await expect(startLink({ target: { port: 9 }, profile: { delayMs: -1 } })).rejects.toThrow(/delayMs must be a number ≥ 0/);
    await expect(startLink({ target: { port: 9 }, profile: { stallChance: 2 } })).rejects.toThrow(/probability/);
  });
});
