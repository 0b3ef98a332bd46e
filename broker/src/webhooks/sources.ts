/**
 * What each feature's own event means for integrators: the four webhook events made from the
 * events the schedule rules, the report intake, the alert board and presence emit on the node
 * where the thing happened (never from the cluster bus, which relays other nodes' events).
 */
import type { PlayReport } from '@loalang/protocol';
import type { Schedule } from '../schedules/schedules.js';
import type { DeliveryEvent } from '../alerts/service.js';
import { isFinal } from '../alerts/alerts.js';
import type { DeviceRepo } from '../devices/devices.js';
import type { PresenceChange } from '../mqtt/contracts.js';
import { iso } from '../time.js';
import type { WebhookEvent } from './events.js';
import type { WebhookPublisher } from './publisher.js';

/** The one event of an emitter a source is listened to for. */
interface Emits<E extends string, A extends unknown[]> {
  on(event: E, listener: (...args: A) => void): unknown;
}

export interface WebhookSources {
  schedules: Emits<'approved', [Schedule]>;
  reports: Emits<'stored', [deviceId: string, report: PlayReport]>;
  alerts: Emits<'delivery', [DeliveryEvent]>;
  presence: Emits<'offline', [PresenceChange]>;
  devices: Pick<DeviceRepo, 'get'>;
  now: () => number;
}

export function scheduleApproved(s: Schedule): WebhookEvent {
  const at = s.approvedAt ?? s.updatedAt;
  return {
    event: 'schedule.approved',
    // Approved again after an edit: another event.
    key: `${s.id}|${at}`,
    at,
    areaId: s.areaId,
    data: { scheduleId: s.id, title: s.title, priority: s.priority, start: s.start, recurrence: s.recurrence, targets: s.targets, createdBy: s.createdBy, approvedBy: s.approvedBy, approvedAt: s.approvedAt },
  };
}

export function connectWebhookSources(publisher: WebhookPublisher, s: WebhookSources): void {
  const device = async (deviceId: string) => s.devices.get(deviceId);
  s.schedules.on('approved', (schedule) => publisher.notify('schedule.approved', async () => scheduleApproved(schedule)));
  s.reports.on('stored', (deviceId, r) =>
    publisher.notify('play.reported', async () => {
      const d = await device(deviceId);
      if (!d) return null;
      return {
        event: 'play.reported',
        key: `${deviceId}|${r.reportId}`,
        at: r.endedAt ?? iso(s.now()),
        areaId: d.areaId,
        data: {
          deviceId,
          deviceName: d.name,
          reportId: r.reportId,
          playId: r.playId,
          scheduleId: r.scheduleId,
          contentId: r.contentId,
          status: r.status,
          scheduledAt: r.scheduledAt,
          startedAt: r.startedAt ?? null,
          endedAt: r.endedAt ?? null,
          playedMs: r.playedMs,
          reason: r.reason ?? null,
        },
      };
    }),
  );
  // Once per alert and speaker: when its delivery reaches its outcome.
  s.alerts.on('delivery', (e) => {
    if (!isFinal(e.state)) return;
    publisher.notify('alert.delivered', async () => {
      const d = await device(e.deviceId);
      if (!d) return null;
      return {
        event: 'alert.delivered',
        key: `${e.alertId}|${e.deviceId}`,
        at: e.updatedAt,
        areaId: d.areaId,
        data: { alertId: e.alertId, deviceId: e.deviceId, deviceName: d.name, state: e.state, played: e.played, startedAt: e.startedAt, reason: e.reason },
      };
    });
  });
  s.presence.on('offline', (change) =>
    publisher.notify('device.offline', async () => {
      const d = await device(change.deviceId);
      if (!d) return null;
      const at = iso(change.at);
      return { event: 'device.offline', key: `${change.deviceId}|${change.at}`, at, areaId: d.areaId, data: { deviceId: d.id, deviceName: d.name, cause: change.cause, at } };
    }),
  );
}
