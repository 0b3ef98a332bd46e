/**
 * Application acks of play reports, coalesced per device. Reports are stored in batches
 * (reports/batch-intake.ts), so a device that empties its outbox has many reports committed at
 * once; each ack is a signed downlink (an Ed25519 signature, an MQTT publish and its PUBACK),
 * which cost more than storing the report. Acks that become due in the same turn of the event
 * loop go out together: one message per device naming all its reports, for an agent that
 * announced `report-ack-many` in its online status, and one per report for any other agent.
 */
import { MAX_REPORTS_PER_ACK, type ReportAck } from '@loalang/protocol';

export class ReportAcks {
  /** Report ids due per device, in the order they were stored. */
  private due = new Map<string, string[]>();
  private flushing: NodeJS.Immediate | null = null;
  /** Devices whose current connection announced `report-ack-many`. */
  private readonly many = new Set<string>();

  /** `send` publishes one ack and logs its own failure (it never rejects). */
  constructor(private readonly send: (deviceId: string, ack: ReportAck) => Promise<void>) {}

  /** Whether the device's current connection takes acks of several reports. */
  setAcceptsMany(deviceId: string, yes: boolean): void {
    if (yes) this.many.add(deviceId);
    else this.many.delete(deviceId);
  }

  /** The report is stored: its ack goes out at the end of this turn, with the others due. */
  ack(deviceId: string, reportId: string): void {
    const ids = this.due.get(deviceId);
    if (ids) ids.push(reportId);
    else this.due.set(deviceId, [reportId]);
    this.flushing ??= setImmediate(() => void this.flush());
  }

  /** Sends every ack due now (also called on stop, so nothing stored stays unacknowledged). */
  flush(): Promise<void> {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = null;
    const due = this.due;
    this.due = new Map();
    const sent: Promise<void>[] = [];
    for (const [deviceId, ids] of due) {
      if (!this.many.has(deviceId)) {
        for (const reportId of ids) sent.push(this.send(deviceId, { v: 1, reportId }));
        continue;
      }
      for (let i = 0; i < ids.length; i += MAX_REPORTS_PER_ACK) {
        const [reportId, ...more] = ids.slice(i, i + MAX_REPORTS_PER_ACK);
        sent.push(this.send(deviceId, more.length ? { v: 1, reportId: reportId!, moreReportIds: more } : { v: 1, reportId: reportId! }));
      }
    }
    return Promise.all(sent).then(() => undefined);
  }
}
