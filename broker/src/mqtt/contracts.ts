/**
 * Seams between the MQTT layer and the rest of the server. The MQTT layer knows
 * devices only through these interfaces; the store implements them.
 */
import type { MessageKind, MessageOf, PlayReport, UplinkKind } from '@loalang/protocol';

export interface DeviceIdentity {
  deviceId: string;
  /** The device's area and all its ancestors, nearest first: it may subscribe to their topics. */
  areaIds: string[];
}

export interface DeviceDirectory {
  /**
   * Checks a device's MQTT credentials (username = device id). Resolves null when
   * unknown, disabled or wrong; never rejects for bad credentials.
   */
  verify(username: string, password: Buffer): Promise<DeviceIdentity | null>;
}

/** Uplinks other than play reports (which have their own acknowledged path). */
export type RoutedUplinkKind = Exclude<UplinkKind, 'report' | 'reports'>;

/**
 * Uplink messages after validation, tagged with the authenticated device and the instant they
 * arrived; one variant per kind of the protocol's uplink list, typed by its message map.
 */
export type UplinkMessage = { [K in RoutedUplinkKind]: { kind: K; deviceId: string; message: MessageOf<K>; receivedAt: number } }[RoutedUplinkKind];

export interface PresenceChange {
  deviceId: string;
  online: boolean;
  at: number;
  /** Why: 'connect', 'disconnect', 'status', 'will' … */
  cause: string;
}

/**
 * Stores a play report durably. The MQTT layer acknowledges the report to the
 * device only after this resolves (the row is committed); if it rejects, no ack.
 */
export type ReportHandler = (deviceId: string, report: PlayReport) => Promise<void>;

export interface DownlinkPublisher {
  publishToDevice<K extends MessageKind>(deviceId: string, kind: K, message: MessageOf<K>): Promise<void>;
}

/** Wraps a downlink body in a signed envelope for its recipient (`dev/<id>` or `area/<id>`). */
export interface DownlinkSealer {
  seal(kind: string, to: string, body: unknown): Buffer;
}
