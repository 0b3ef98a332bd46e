/**
 * Delivers each validated uplink to the features that registered for its kind (issue 15: an
 * if-chain in ServerCore did it). Handlers are typed from the protocol's message map; one that
 * throws (or rejects) is logged and does not keep the others from their message. Handlers write
 * to the database, which answers asynchronously (issue 16): one device's messages are handled one
 * after another, in the order they arrived, while different devices' run side by side.
 */
import type { Logger, MessageOf } from '@loalang/protocol';
import type { RoutedUplinkKind, UplinkMessage } from './contracts.js';
import { KeyedSerial } from '../keyed-serial.js';

export type UplinkHandler<K extends RoutedUplinkKind> = (deviceId: string, message: MessageOf<K>, receivedAt: number) => void | Promise<void>;

export class UplinkRouter {
  private readonly handlers = new Map<RoutedUplinkKind, UplinkHandler<RoutedUplinkKind>[]>();
  private readonly unrouted = new Set<string>();
  private readonly perDevice = new KeyedSerial();

  constructor(private readonly logger: Logger) {}

  on<K extends RoutedUplinkKind>(kind: K, handler: UplinkHandler<K>): this {
    const list = this.handlers.get(kind) ?? [];
    list.push(handler as UplinkHandler<RoutedUplinkKind>);
    this.handlers.set(kind, list);
    return this;
  }

  /** Queues the message behind the device's earlier ones; resolves when it has been handled. */
  dispatch(m: UplinkMessage): Promise<void> {
    const handlers = this.handlers.get(m.kind);
    if (!handlers) {
      // A kind the protocol lists but no feature handles yet: said once, not per message.
      if (!this.unrouted.has(m.kind)) this.logger.warn({ kind: m.kind, deviceId: m.deviceId }, 'uplink kind has no handler; dropped');
      this.unrouted.add(m.kind);
      return Promise.resolve();
    }
    const run = async () => {
      for (const handle of handlers) {
        try {
          await handle(m.deviceId, m.message, m.receivedAt);
        } catch (err) {
          this.logger.error({ err, deviceId: m.deviceId, kind: m.kind }, 'uplink handling failed');
        }
      }
    };
    return this.perDevice.run(m.deviceId, run);
  }
}
