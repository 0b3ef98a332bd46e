/**
 * The events integrators subscribe to (issue 21 item 5). Their names and the envelope are an
 * external contract: keep them stable, add new names rather than change old ones.
 */
import { createHash } from 'node:crypto';

export const WEBHOOK_EVENTS = ['schedule.approved', 'play.reported', 'alert.delivered', 'device.offline'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];
/** A test delivery to one subscription (POST /webhooks/:id/ping); never subscribed to. */
export const PING_EVENT = 'webhook.ping';
export type DeliveredEventName = WebhookEventName | typeof PING_EVENT;

export function isWebhookEvent(name: string): name is WebhookEventName {
  return (WEBHOOK_EVENTS as readonly string[]).includes(name);
}

/** What a receiver gets as the POST body (JSON). */
export interface WebhookEnvelope {
  /** The same for every subscription and every attempt of this event: a receiver dedupes on it. */
  id: string;
  event: DeliveredEventName;
  at: string;
  /** The area the event happened in (a device's, a schedule's own). */
  areaId: string;
  data: Record<string, unknown>;
}

/** Something that happened, before it is addressed to subscriptions. */
export interface WebhookEvent {
  event: DeliveredEventName;
  /** What makes it this event and no other (e.g. the report id): equal keys, one event, one delivery per subscription. */
  key: string;
  at: string;
  areaId: string;
  data: Record<string, unknown>;
}

/** The event's id, derived from its key: an event seen twice (a replay, two writers) has one id. */
export function eventId(event: DeliveredEventName, key: string): string {
  return `evt_${createHash('sha256').update(`${event}\n${key}`).digest('hex').slice(0, 32)}`;
}

export function envelopeOf(e: WebhookEvent): WebhookEnvelope {
  return { id: eventId(e.event, e.key), event: e.event, at: e.at, areaId: e.areaId, data: e.data };
}
