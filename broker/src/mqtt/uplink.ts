/**
 * Intake of device uplinks: every payload is validated against its schema; invalid ones
 * are counted by reason, logged once per device and reason, and dropped.
 */
import { NAMESPACE, parseMessage, UPLINK, type Logger, type PlayReport, type ReportBatch, type UplinkKind } from '@loalang/protocol';
import type { UplinkMessage } from './contracts.js';

export interface IntakeStats {
  messagesIn: number;
  invalidMessages: Record<string, number>;
}

const KIND_SET: ReadonlySet<string> = new Set(UPLINK);
const MAX_LOGGED_KEYS = 10_000;

export class UplinkIntake {
  private messagesIn = 0;
  private readonly invalid = new Map<string, number>();
  private readonly logged = new Set<string>();

  constructor(
    private readonly deps: {
      logger: Logger;
      onUplink: (message: UplinkMessage) => void;
      onReport: (deviceId: string, report: PlayReport) => void;
      now: () => number;
    },
  ) {}

  /** `deviceId` is the authenticated device; the ACL already confined the topic to it. */
  accept(deviceId: string, topic: string, payload: Buffer): void {
    const prefix = `${NAMESPACE}/dev/${deviceId}/`;
    if (!topic.startsWith(prefix)) return;
    const kind = topic.slice(prefix.length);
    if (!KIND_SET.has(kind)) return;
    this.messagesIn++;
    const parsed = parseMessage(kind as UplinkKind, payload);
    if (!parsed.ok) {
      this.reject(deviceId, kind, parsed.reason);
      return;
    }
    if (kind === 'report') {
      this.deps.onReport(deviceId, parsed.value as PlayReport);
      return;
    }
    if (kind === 'reports') {
      // A batch (`report-batch`): each report goes on as if it had come alone.
      for (const report of (parsed.value as ReportBatch).reports) this.deps.onReport(deviceId, report);
      return;
    }
    // Every uplink carries the instant it arrived: a time probe's reply is only as good as that figure.
    this.deps.onUplink({ kind, deviceId, message: parsed.value, receivedAt: this.deps.now() } as UplinkMessage);
  }

  private reject(deviceId: string, kind: string, reason: string): void {
    const short = reason.startsWith('payload too large') ? 'too-large' : reason === 'payload is not valid JSON' ? 'not-json' : 'schema';
    const key = `${kind}:${short}`;
    this.invalid.set(key, (this.invalid.get(key) ?? 0) + 1);
    const logKey = `${deviceId}|${key}`;
    if (!this.logged.has(logKey) && this.logged.size < MAX_LOGGED_KEYS) {
      this.logged.add(logKey);
      this.deps.logger.warn({ deviceId, kind, reason }, 'invalid uplink dropped (logged once per device and reason)');
    }
  }

  stats(): IntakeStats {
    return { messagesIn: this.messagesIn, invalidMessages: Object.fromEntries(this.invalid) };
  }
}
