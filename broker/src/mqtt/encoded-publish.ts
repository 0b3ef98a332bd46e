/**
 * An alert or a live frame group goes to an area's thousands of speakers as one QoS 0 publish,
 * and Aedes writes it to each subscriber with mqtt-packet's writeToStream: the same header, topic
 * and payload encoded again for every socket, in four writes corked and uncorked on the next tick.
 * Profiled at 10,000 speakers (bench/alert-fanout.mjs PROFILE=…), that encoding and Node's
 * stream bookkeeping around it were about a quarter of the server's busy time between the POST
 * and the speakers' receipts, the rest being the kernel's sends (issue 19). Here a QoS 0 publish
 * is encoded once and the same bytes are written to every socket in one write: what goes on the
 * wire is byte for byte what mqtt-packet makes (broker/test/encoded-publish.test.ts). It saves
 * CPU (~150 ms of JS around the sends became ~30 ms); the time until the last speakers hear an
 * alert, bound by the kernel's sends, did not move (decision 0026).
 *
 * Aedes calls `mqttPacket.writeToStream` through the module's exports at each write, so the
 * function is replaced there, once per process. Anything else (QoS 1 and 2, other packets, MQTT 5
 * options or properties) goes to mqtt-packet's own function, untouched.
 */
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';

type WriteToStream = typeof mqttPacket.writeToStream;

/** The bytes of each QoS 0 publish payload (the same Buffer for every subscriber), with what else they encode. */
const encoded = new WeakMap<Buffer, { topic: string; retain: boolean; dup: boolean; bytes: Buffer }>();
let installed = false;

function isPlainQos0(packet: Packet): packet is IPublishPacket & { payload: Buffer } {
  return packet.cmd === 'publish' && !packet.qos && Buffer.isBuffer(packet.payload) && packet.properties === undefined && typeof packet.topic === 'string';
}

/** Encodes a QoS 0 publish once per payload; the same bytes as mqtt-packet's generate. */
export function encodedPublish(packet: IPublishPacket & { payload: Buffer }): Buffer {
  const retain = packet.retain ?? false;
  const dup = packet.dup ?? false;
  const seen = encoded.get(packet.payload);
  if (seen && seen.topic === packet.topic && seen.retain === retain && seen.dup === dup) return seen.bytes;
  const bytes = mqttPacket.generate({ cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 0, retain, dup });
  encoded.set(packet.payload, { topic: packet.topic, retain, dup, bytes });
  return bytes;
}

/** Replaces mqtt-packet's writeToStream (idempotent): QoS 0 publishes in one write of bytes encoded once. */
export function installEncodedPublish(): void {
  if (installed) return;
  installed = true;
  const original: WriteToStream = mqttPacket.writeToStream;
  const replacement = ((packet: Packet, stream: NodeJS.WritableStream, opts?: object): boolean => {
    if (opts !== undefined || !isPlainQos0(packet)) return original(packet, stream, opts);
    return stream.write(encodedPublish(packet));
  }) as WriteToStream;
  (mqttPacket as { writeToStream: WriteToStream }).writeToStream = replacement;
}
