/**
 * Frame layout (PROTOCOL.md): 0xA5 | len | seq | cmd | payload[len] | crc16 (big-endian),
 * the CRC covering len, seq, cmd and payload.
 */
import { crc16 } from './crc.js';

export const START = 0xa5;
export const MAX_PAYLOAD = 64;
export const HEADER = 4;
export const OVERHEAD = HEADER + 2;

export interface Frame {
  seq: number;
  cmd: number;
  payload: Buffer;
}

export function encodeFrame(frame: Frame): Buffer {
  if (frame.payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${frame.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.alloc(OVERHEAD + frame.payload.length);
  out[0] = START;
  out[1] = frame.payload.length;
  out[2] = frame.seq & 0xff;
  out[3] = frame.cmd & 0xff;
  frame.payload.copy(out, HEADER);
  out.writeUInt16BE(crc16(out, 1, HEADER + frame.payload.length), HEADER + frame.payload.length);
  return out;
}
