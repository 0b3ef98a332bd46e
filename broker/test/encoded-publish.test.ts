/** A QoS 0 publish encoded once for all its subscribers: the same bytes mqtt-packet makes, one write per socket. */
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { encodedPublish, installEncodedPublish } from '../src/mqtt/encoded-publish.js';

/** Everything written to a stream, and how many writes it took. */
function sink(): { stream: PassThrough; bytes: () => Buffer; writes: () => number } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  let writes = 0;
  const write = stream.write.bind(stream);
  stream.write = ((chunk: Buffer, ...rest: never[]) => {
    writes++;
    chunks.push(Buffer.from(chunk));
    return write(chunk, ...rest);
  }) as typeof stream.write;
  return { stream, bytes: () => Buffer.concat(chunks), writes: () => writes };
}

describe('encoded QoS 0 publishes', () => {
  const payload = Buffer.from(JSON.stringify({ v: 1, body: { alertId: 'a1', title: 'Bão số 3 — sơ tán ngay' } }));
  const packet = { cmd: 'publish' as const, topic: 'loalang/v1/area/tinh/alert', payload, qos: 0 as const, retain: false, dup: false };

  it('encodes as mqtt-packet does, once per payload, again when the topic or flags differ', () => {
    const bytes = encodedPublish(packet);
    expect(bytes.equals(mqttPacket.generate(packet))).toBe(true);
    expect(encodedPublish({ ...packet })).toBe(bytes); // a subscriber's copy of the packet, the same payload
    const other = encodedPublish({ ...packet, topic: 'loalang/v1/area/xa/alert' });
    expect(other).not.toBe(bytes);
    expect(other.equals(mqttPacket.generate({ ...packet, topic: 'loalang/v1/area/xa/alert' }))).toBe(true);
    expect(encodedPublish({ ...packet, retain: true }).equals(mqttPacket.generate({ ...packet, retain: true }))).toBe(true);
    const big = Buffer.alloc(300_000, 7); // a length over several bytes
    expect(encodedPublish({ ...packet, payload: big }).equals(mqttPacket.generate({ ...packet, payload: big }))).toBe(true);
  });

  it('once installed, writes a QoS 0 publish in one write and leaves every other packet to mqtt-packet', async () => {
    installEncodedPublish();
    installEncodedPublish(); // idempotent
    const qos0 = sink();
    mqttPacket.writeToStream(packet, qos0.stream);
    expect(qos0.writes()).toBe(1);
    expect(qos0.bytes().equals(mqttPacket.generate(packet))).toBe(true);

    const others: Packet[] = [
      { ...packet, qos: 1, messageId: 42 },
      { cmd: 'puback', messageId: 42 },
      { cmd: 'pingresp' },
      { ...packet, properties: { contentType: 'application/json' } },
    ];
    for (const p of others) {
      const out = sink();
      mqttPacket.writeToStream(p, out.stream, p.cmd === 'publish' && 'properties' in p ? { protocolVersion: 5 } : undefined);
      await new Promise((r) => setImmediate(r));
      const expected = mqttPacket.generate(p, p.cmd === 'publish' && 'properties' in p ? { protocolVersion: 5 } : undefined);
      expect(out.bytes().equals(expected), p.cmd).toBe(true);
    }
  });
});
