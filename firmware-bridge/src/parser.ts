/**
 * Byte-stream parser: finds frames in whatever chunks the serial port delivers, resyncs on
 * the start byte after garbage, drops frames with a bad CRC or an impossible length (and
 * counts them), and never throws.
 */
import { crc16 } from './crc.js';
import { HEADER, MAX_PAYLOAD, OVERHEAD, START, type Frame } from './frame.js';

export interface ParserCounters {
  crcErrors: number;
  oversize: number;
  discardedBytes: number;
}

export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);
  readonly counters: ParserCounters = { crcErrors: 0, oversize: 0, discardedBytes: 0 };

  constructor(private readonly onFrame: (frame: Frame) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const start = this.buf.indexOf(START);
      if (start < 0) {
        this.counters.discardedBytes += this.buf.length;
        this.buf = Buffer.alloc(0);
        return;
      }
      if (start > 0) {
        this.counters.discardedBytes += start;
        this.buf = this.buf.subarray(start);
      }
      if (this.buf.length < 2) return;
      const len = this.buf[1]!;
      if (len > MAX_PAYLOAD) {
        this.counters.oversize++;
        this.skipOne();
        continue;
      }
      if (this.buf.length < OVERHEAD + len) {
        // A garbage byte that looks like a start with a plausible length would stall us until
        // enough bytes arrive; if a complete valid frame already sits behind it, resync there.
        const next = this.validFrameAfter(1);
        if (next < 0) return;
        this.counters.discardedBytes += next;
        this.buf = this.buf.subarray(next);
        continue;
      }
      if (!this.crcOk(0, len)) {
        this.counters.crcErrors++;
        this.skipOne();
        continue;
      }
      const frame: Frame = { seq: this.buf[2]!, cmd: this.buf[3]!, payload: Buffer.from(this.buf.subarray(HEADER, HEADER + len)) };
      this.buf = this.buf.subarray(OVERHEAD + len);
      this.onFrame(frame);
    }
  }

  private crcOk(at: number, len: number): boolean {
    return this.buf.readUInt16BE(at + HEADER + len) === crc16(this.buf, at + 1, at + HEADER + len);
  }

  private validFrameAfter(from: number): number {
    for (let i = this.buf.indexOf(START, from); i >= 0; i = this.buf.indexOf(START, i + 1)) {
      const len = this.buf[i + 1];
      if (len !== undefined && len <= MAX_PAYLOAD && this.buf.length >= i + OVERHEAD + len && this.crcOk(i, len)) return i;
    }
    return -1;
  }

  /** Drops the start byte of a bad frame so the search resumes just after it. */
  private skipOne(): void {
    this.counters.discardedBytes++;
    this.buf = this.buf.subarray(1);
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }
}
