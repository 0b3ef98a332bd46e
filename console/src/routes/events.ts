/**
 * GET /events: one live stream (Server-Sent Events) of what changes in the caller's areas, so
 * the console updates without polling: devices (presence, health, what plays) in batches,
 * alarms raised and cleared, commands' results, alerts' state, rollouts' progress.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { can, describeAlarm, type Alert, type AlarmChange, type Rollout, type ServerServices } from '@loalang/broker';
import { callerOf, deviceInScope, requirePermission, targetsVisible } from '../auth.js';
import { eventStreams } from '../sse.js';
import { notJson } from '../responses/index.js';

/** Device and rollout changes are coalesced per id and sent this often: telemetry from 10k speakers would flood a phone. */
export const DEVICE_FLUSH_MS = 1000;

type DeviceRow = { areaId: string; json: string };
type RolloutRow = { rollout: Rollout; json: string };

/**
 * What changed of one kind (devices, rollouts) since the last tick, read and serialised once for
 * every open stream (each then keeps what is its own): 100 consoles cost one read, not 100.
 */
class CoalescedFeed<Row> {
  private readonly changed = new Set<string>();
  private readonly streams = new Set<(rows: Row[]) => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly onChange = (id: string) => void this.changed.add(id);
  /** Both events carry one id; the emitter's typing cannot see that through a union of names. */
  private readonly on: 'device';

  constructor(
    private readonly core: ServerServices,
    private readonly event: 'device' | 'rollout',
    private readonly read: (ids: string[]) => Promise<Row[]>,
  ) {
    this.on = event as 'device';
  }

  subscribe(stream: (rows: Row[]) => void): () => void {
    if (this.streams.size === 0) {
      this.core.live.on(this.on, this.onChange);
      this.timer = setInterval(() => this.flush(), DEVICE_FLUSH_MS);
    }
    this.streams.add(stream);
    return () => {
      this.streams.delete(stream);
      if (this.streams.size > 0) return;
      this.core.live.off(this.on, this.onChange);
      if (this.timer) clearInterval(this.timer);
      this.changed.clear();
    };
  }

  private flush(): void {
    if (this.changed.size === 0) return;
    const ids = [...this.changed];
    this.changed.clear();
    void this.read(ids).then(
      (rows) => {
        if (rows.length > 0) for (const stream of this.streams) stream(rows);
      },
      // The database is away: these changes are not shown live; the page's next load shows them.
      (err: unknown) => this.core.logger.warn({ err }, `live ${this.event} changes not read`),
    );
  }
}

export const eventRoutes: FastifyPluginAsyncTypebox<{ core: ServerServices }> = async (app, { core }) => {
  const streamEvents = eventStreams(app, core);
  const feed = new CoalescedFeed<DeviceRow>(core, 'device', async (ids) =>
    (await Promise.all(ids.map((id) => core.devices.get(id)))).flatMap((d) => (d ? [{ areaId: d.areaId, json: JSON.stringify({ ...d, online: core.mqtt.isOnline(d.id) }) }] : [])),
  );
  const rollouts = new CoalescedFeed<RolloutRow>(core, 'rollout', async (ids) =>
    (await Promise.all(ids.map((id) => core.rollouts.repo.rollout(id)))).flatMap((r) => (r ? [{ rollout: r, json: JSON.stringify(r) }] : [])),
  );
  const read = requirePermission(core, 'devices:read');

  app.get(
    '/events',
    {
      schema: {
        tags: ['devices'],
        description:
          'Server-Sent Events of the caller\'s areas: `hello`, then `devices` (devices whose presence or health changed, as GET /devices/:id shows them, at most once a second), `alarm` ({type: raised|cleared, alarm}), `command` (a command record with its result), `alert` (an alert\'s state changed) and, for those who may see updates, `rollout` (a rollout, as GET /rollouts lists it, whose state, wave or devices changed, at most once a second)',
        response: notJson('text/event-stream', 'Server-Sent Events'),
      },
      preHandler: read,
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const inScope = async (deviceId: string) => {
        const d = await core.devices.get(deviceId);
        return d !== null && caller.scope.has(d.areaId) ? d : null;
      };
      const later = (what: string, work: () => Promise<void>) => void work().catch((err: unknown) => core.logger.warn({ err }, `live ${what} event not sent`));
      streamEvents(request, reply.raw, (send) => {
        send('hello', { at: new Date(core.clock.now()).toISOString() });
        const unsubscribe = feed.subscribe((rows) => {
          const mine = rows.filter((r) => caller.scope.has(r.areaId));
          if (mine.length > 0) send('devices', null, `[${mine.map((r) => r.json).join(',')}]`);
        });
        let open = true;
        const onCommand = (deviceId: string, commandId: string) =>
          later('command', async () => {
            const record = (await inScope(deviceId)) && (await core.commands.get(commandId));
            if (record && open) send('command', record);
          });
        const onAlarm = (c: AlarmChange) =>
          later('alarm', async () => {
            const device = await inScope(c.alarm.deviceId);
            if (device && open) send('alarm', { type: c.type, alarm: describeAlarm(c.alarm, device.name) });
          });
        // Summaries are read one after another, so they are sent in the order the changes came.
        let alerts = Promise.resolve();
        const onAlert = (a: Alert) => {
          alerts = alerts
            .then(async () => {
              if (open && targetsVisible(caller, a.targets, await deviceInScope(core.devices, caller))) send('alert', await core.alerts.summary(a.id));
            })
            .catch((err: unknown) => request.log.error({ err, alertId: a.id }, 'alert summary not sent'));
        };
        // Rollouts (issue 20), for those who may see them: the caller's when they target their areas or devices.
        const unsubscribeRollouts = can(caller.user.role, 'updates:read')
          ? rollouts.subscribe((rows) =>
              later('rollout', async () => {
                let mine: ((deviceId: string) => boolean) | null = null;
                for (const { rollout, json } of rows) {
                  if (rollout.deviceIds.length > 0) mine ??= await deviceInScope(core.devices, caller);
                  if (open && targetsVisible(caller, rollout, mine ?? (() => false))) send('rollout', null, json);
                }
              }),
            )
          : () => undefined;
        core.live.on('command', onCommand);
        core.live.on('alarm', onAlarm);
        core.live.on('alert', onAlert);
        return () => {
          open = false;
          unsubscribe();
          unsubscribeRollouts();
          core.live.off('command', onCommand);
          core.live.off('alarm', onAlarm);
          core.live.off('alert', onAlert);
        };
      });
      reply.hijack();
    },
  );
};
