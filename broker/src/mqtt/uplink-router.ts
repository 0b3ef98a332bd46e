/**
 * Delivers each validated uplink to the features that registered for its kind (issue 15: an
 * if-chain in ServerCore did it). Handlers are typed from the protocol's message map; one that
 * throws is logged and does not keep the others from their message.
 */
import type { Logger, MessageOf } from '@loalang/protocol';
import type { RoutedUplinkKind, UplinkMessage } from './contracts.js';

export type UplinkHandler<K extends RoutedUplinkKind> = (deviceId: string, message: MessageOf<K>, receivedAt: number) => void;

export class UplinkRouter {
  private readonly handlers = new Map<RoutedUplinkKind, UplinkHandler<RoutedUplinkKind>[]>();

  constructor(private readonly logger: Logger) {}

  on<K extends RoutedUplinkKind>(kind: K, handler: UplinkHandler<K>): this {
    const list = this.handlers.get(kind) ?? [];
    list.push(handler as UplinkHandler<RoutedUplinkKind>);
    this.handlers.set(kind, list);
    return this;
  }

  dispatch(m: UplinkMessage): void {
    for (const handle of this.handlers.get(m.kind) ?? []) {
      try {
        handle(m.deviceId, m.message, m.receivedAt);
      } catch (err) {
        this.logger.error({ err, deviceId: m.deviceId, kind: m.kind }, 'uplink handling failed');
      }
    }
  }
}
