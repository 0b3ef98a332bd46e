/**
 * MQTT's largest packet is 256 MiB and Aedes buffers whatever a client announces, before it
 * has even authenticated. This watches the bytes Aedes reads from each connection, follows
 * packet boundaries through the fixed header (type byte, then the Remaining Length varint,
 * MQTT 3.1.1 §2.2.3), and closes a connection the moment it announces a packet over the limit
 * or a malformed length — at most one socket read (64 KiB) reaches the parser first.
 */
import type { Socket } from 'node:net';

/** Largest MQTT packet a device may send: the 1 MiB payload limit plus topic and header. */
export const MAX_PACKET_BYTES = 1024 * 1024 + 1024;

export class PacketScanner {
  /** Bytes of the current packet's body still to skip. */
  private remaining = 0;
  /** Reading the Remaining Length: -1 when the next byte is a packet's type byte. */
  private lengthBytes = -1;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly max: number) {}

  /** Follows the chunk; returns the announced size when a packet is over the limit or malformed, else null. */
  push(chunk: Buffer): number | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.lengthBytes < 0) {
        this.lengthBytes = 0;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return Infinity; // a fifth length byte: malformed (§2.2.3)
        continue;
      }
      if (this.length > this.max) return this.length;
      this.remaining = this.length;
      this.lengthBytes = -1;
    }
    return null;
  }
}

/** Call right after `aedes.handle(socket)`: Aedes reads on 'readable', so this listener sees each chunk as it is read. */
export function guardPacketSize(socket: Socket, max: number, onRefused: (announced: number) => void): void {
  const scanner = new PacketScanner(max);
  socket.on('data', (chunk: Buffer) => {
    const over = scanner.push(chunk);
    if (over === null || socket.destroyed) return;
    onRefused(over);
    socket.destroy();
  });
}
