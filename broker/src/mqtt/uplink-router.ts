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
  private readonly unrouted = new Set<string>();

  constructor(private readonly logger: Logger) {}

  on<K extends RoutedUplinkKind>(kind: K, handler: UplinkHandler<K>): this {
    const list = this.handlers.get(kind) ?? [];
    list.push(handler as UplinkHandler<RoutedUplinkKind>);
    this.handlers.set(kind, list);
    return this;
  }

  dispatch(m: UplinkMessage): void {
    const handlers = this.handlers.get(m.kind);
    if (!handlers) {
      // A kind the protocol lists but no feature handles yet: said once, not per message.
      if (!this.unrouted.has(m.kind)) this.logger.warn({ kind: m.kind, deviceId: m.deviceId }, 'uplink kind has no handler; dropped');
      this.unrouted.add(m.kind);
      return;
    }
    for (const handle of handlers) {
      try {
        handle(m.deviceId, m.message, m.receivedAt);
      } catch (err) {
        this.logger.error({ err, deviceId: m.deviceId, kind: m.kind }, 'uplink handling failed');
      }
    }
  }
}
