/**
 * GET /events: one live stream (Server-Sent Events) of what changes in the caller's areas, so
 * the console updates without polling: devices (presence, health, what plays) in batches,
 * alarms raised and cleared, commands' results, alerts' state.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ALARM_LABELS, type Alert, type AlarmChange, type ServerCore } from '@loalang/broker';
import { callerOf, requirePermission } from '../auth.js';
import { eventStreams } from '../sse.js';

/** Device changes are coalesced per device and sent this often: telemetry from 10k speakers would flood a phone. */
export const DEVICE_FLUSH_MS = 1000;

export const eventRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  const streamEvents = eventStreams(app);
  const read = requirePermission(core, 'devices:read');

  app.get(
    '/events',
    {
      schema: {
        tags: ['devices'],
        description:
          'Server-Sent Events of the caller\'s areas: `hello`, then `devices` (devices whose presence or health changed, as GET /devices/:id shows them, at most once a second), `alarm` ({type: raised|cleared, alarm}), `command` (a command record with its result) and `alert` (an alert\'s state changed)',
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
        const changed = new Set<string>();
        const flush = setInterval(() => {
          if (changed.size === 0) return;
          const devices = [...changed].flatMap((id) => {
            const d = inScope(id);
            return d ? [{ ...d, online: core.mqtt.isOnline(id) }] : [];
          });
          changed.clear();
          if (devices.length > 0) send('devices', devices);
        }, DEVICE_FLUSH_MS);
        const onDevice = (id: string) => void changed.add(id);
        const onCommand = (deviceId: string, commandId: string) => {
          const record = inScope(deviceId) && core.commands.get(commandId);
          if (record) send('command', record);
        };
        const onAlarm = (c: AlarmChange) => {
          const device = inScope(c.alarm.deviceId);
          if (device) send('alarm', { type: c.type, alarm: { ...c.alarm, label: ALARM_LABELS[c.alarm.kind].en, labelVi: ALARM_LABELS[c.alarm.kind].vi, deviceName: device.name } });
        };
        const onAlert = (a: Alert) => {
          if (a.targets.areaIds.some((id) => caller.scope.has(id)) || a.targets.deviceIds.some((id) => inScope(id))) send('alert', core.alerts.summary(a.id));
        };
        core.changes.on('device', onDevice);
        core.changes.on('command', onCommand);
        core.alarms.on('change', onAlarm);
        core.alerts.on('alert', onAlert);
        return () => {
          clearInterval(flush);
          core.changes.off('device', onDevice);
          core.changes.off('command', onCommand);
          core.alarms.off('change', onAlarm);
          core.alerts.off('alert', onAlert);
        };
      });
      reply.hijack();
    },
  );
};
