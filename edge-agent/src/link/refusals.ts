/**
 * Tells the server about refused downlinks (`dev/<id>/refused`), a few per minute at most:
 * whoever floods the box with forgeries must not also flood the uplink. The rest are counted
 * and the count rides on the next report.
 */
import type { DownlinkRefusal } from '@loalang/protocol';
import type { Refusal } from './mqtt-session.js';

export class RefusalReporter {
  private sentAt: number[] = [];
  private suppressed = 0;

  constructor(
    private readonly o: {
      send: (m: DownlinkRefusal) => Promise<void>;
      now: () => number;
      perMinute?: number;
    },
  ) {}

  report(r: Refusal): void {
    const now = this.o.now();
    this.sentAt = this.sentAt.filter((t) => now - t < 60_000);
    if (this.sentAt.length >= (this.o.perMinute ?? 6)) {
      this.suppressed++;
      return;
    }
    this.sentAt.push(now);
    const suppressed = this.suppressed;
    this.suppressed = 0;
    const message: DownlinkRefusal = {
      v: 1,
      at: new Date(now).toISOString(),
      kind: r.kind,
      reason: r.reason,
      detail: r.detail.slice(0, 500),
      ...(r.seq !== undefined ? { seq: r.seq } : {}),
      ...(r.kid !== undefined ? { kid: r.kid } : {}),
      ...(suppressed > 0 ? { suppressed } : {}),
    };
    this.o.send(message).catch(() => {
      this.suppressed += 1 + suppressed; // offline: counted, said with the next one
    });
  }
}
