/**
 * GET /events: one live stream (Server-Sent Events) of what changes in the caller's areas, so
 * the console updates without polling: devices (presence, health, what plays) in batches,
 * alarms raised and cleared, commands' results, alerts' state.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { describeAlarm, type Alert, type AlarmChange, type ServerServices } from '@loalang/broker';
import { callerOf, deviceInScope, requirePermission, targetsVisible } from '../auth.js';
import { eventStreams } from '../sse.js';
import { notJson } from '../responses/index.js';

/** Device changes are coalesced per device and sent this often: telemetry from 10k speakers would flood a phone. */
export const DEVICE_FLUSH_MS = 1000;

type DeviceRow = { areaId: string; json: string };

/**
 * The devices that changed since the last tick, read and serialised once for every open
 * stream (each then keeps those of its areas): 100 consoles cost one read, not 100.
 */
class DeviceFeed {
  private readonly changed = new Set<string>();
  private readonly streams = new Set<(rows: DeviceRow[]) => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly onChange = (id: string) => void this.changed.add(id);

  constructor(private readonly core: ServerServices) {}

  subscribe(stream: (rows: DeviceRow[]) => void): () => void {
    if (this.streams.size === 0) {
      this.core.changes.on('device', this.onChange);
      this.timer = setInterval(() => this.flush(), DEVICE_FLUSH_MS);
    }
    this.streams.add(stream);
    return () => {
      this.streams.delete(stream);
      if (this.streams.size > 0) return;
      this.core.changes.off('device', this.onChange);
      if (this.timer) clearInterval(this.timer);
      this.changed.clear();
    };
  }

  private flush(): void {
    if (this.changed.size === 0) return;
    const rows = [...this.changed].flatMap((id) => {
      const d = this.core.devices.get(id);
      return d ? [{ areaId: d.areaId, json: JSON.stringify({ ...d, online: this.core.mqtt.isOnline(id) }) }] : [];
    });
    this.changed.clear();
    for (const stream of this.streams) stream(rows);
  }
}

export const eventRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const streamEvents = eventStreams(app, core);
  const feed = new DeviceFeed(core);
  const read = requirePermission(core, 'devices:read');

  app.get(
    '/events',
    {
      schema: {
        tags: ['devices'],
        description:
          'Server-Sent Events of the caller\'s areas: `hello`, then `devices` (devices whose presence or health changed, as GET /devices/:id shows them, at most once a second), `alarm` ({type: raised|cleared, alarm}), `command` (a command record with its result) and `alert` (an alert\'s state changed)',
        response: notJson('text/event-stream', 'Server-Sent Events'),
      },
      preHandler: read,
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const inScope = (deviceId: string) => {
        const d = core.devices.get(deviceId);
        return d !== null && caller.scope.has(d.areaId) ? d : null;
      };
      streamEvents(request, reply.raw, (send) => {
        send('hello', { at: new Date(core.clock.now()).toISOString() });
        const unsubscribe = feed.subscribe((rows) => {
          const mine = rows.filter((r) => caller.scope.has(r.areaId));
          if (mine.length > 0) send('devices', null, `[${mine.map((r) => r.json).join(',')}]`);
        });
        const onCommand = (deviceId: string, commandId: string) => {
          const record = inScope(deviceId) && core.commands.get(commandId);
          if (record) send('command', record);
        };
        const onAlarm = (c: AlarmChange) => {
          const device = inScope(c.alarm.deviceId);
          if (device) send('alarm', { type: c.type, alarm: describeAlarm(c.alarm, device.name) });
        };
        // Summaries are read one after another, so they are sent in the order the changes came.
        let alerts = Promise.resolve();
        const onAlert = (a: Alert) => {
          if (!targetsVisible(caller, a.targets, deviceInScope(core.devices, caller))) return;
          alerts = alerts
            .then(async () => send('alert', await core.alerts.summary(a.id)))
            .catch((err: unknown) => request.log.error({ err, alertId: a.id }, 'alert summary not sent'));
        };
        core.changes.on('command', onCommand);
        core.alarms.on('change', onAlarm);
        core.alerts.on('alert', onAlert);
        return () => {
          unsubscribe();
          core.changes.off('command', onCommand);
          core.alarms.off('change', onAlarm);
          core.alerts.off('alert', onAlert);
        };
      });
      reply.hijack();
    },
  );
};
