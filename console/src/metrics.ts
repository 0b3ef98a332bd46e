/**
 * `GET /metrics` in Prometheus format (prom-client): devices by presence, active alarms by
 * kind, plays by outcome, MQTT connections and message rates, plus the server process's own
 * figures. Values are read from the core when Prometheus scrapes, so nothing is counted twice.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerServices } from '@loalang/broker';

type Totals = [Record<string, string>, number][];

/** A counter whose running total lives elsewhere (the broker, the database): set at scrape time. */
function totalFrom(registry: Registry, name: string, help: string, labelNames: string[], read: () => Totals | Promise<Totals>) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const totals = await read();
      this.reset();
      for (const [labels, value] of totals) this.inc(labels, value);
    },
  });
}

/** A gauge of counts by state, read from the database at scrape time. */
function byStateGauge(registry: Registry, name: string, help: string, read: () => Promise<Record<string, number>>) {
  return new Gauge({
    name,
    help,
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await read();
      this.reset();
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
}

export function buildMetrics(core: ServerServices): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'loalang_server_' });
  new Gauge({
    name: 'loalang_devices',
    help: 'Registered devices by presence',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { online, offline } = await core.devices.countByPresence();
      this.set({ state: 'online' }, online);
      this.set({ state: 'offline' }, offline);
    },
  });
  new Gauge({
    name: 'loalang_alarms_active',
    help: 'Active alarms by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      for (const [kind, n] of Object.entries(await core.alarms.activeByKind())) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: 'loalang_mqtt_connected_clients',
    help: 'MQTT connections',
    registers: [registry],
    collect() {
      this.set(core.mqtt.stats().connectedClients);
    },
  });
  new Gauge({
    name: 'loalang_cluster_leader',
    help: 'Whether this node leads (does the work that happens once: dispatch, sweeps, expiry, retention); always 1 on a single server',
    registers: [registry],
    collect() {
      this.set(core.clusterStats().leader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'loalang_cluster_devices_elsewhere',
    help: 'Devices connected to the other nodes of the cluster, as this node knows them',
    registers: [registry],
    collect() {
      this.set(core.clusterStats().devicesElsewhere);
    },
  });
  totalFrom(registry, 'loalang_cluster_bus_messages_total', 'Messages between the nodes of a cluster (Redis), by direction: sent, received, refused (wrong seal), unsent (Redis away)', ['direction'], () =>
    Object.entries(core.clusterStats().bus ?? {}).map(([direction, n]) => [{ direction }, n]),
  );
  totalFrom(registry, 'loalang_cluster_mqtt_messages_total', 'MQTT messages routed by this node: local (uplinks, its own devices), via-redis, not-shared (Redis away: delivered on this node only), relayed (another node\'s downlink for a device here)', ['route'], () => {
    const m = core.clusterStats().mqtt;
    return m ? [[{ route: 'local' }, m.local], [{ route: 'via-redis' }, m.viaRedis], [{ route: 'not-shared' }, m.notShared], [{ route: 'relayed' }, m.relayed]] : [];
  });
  totalFrom(registry, 'loalang_plays_total', 'Play reports received, by outcome', ['status'], async () => Object.entries(await core.reports.countsByStatus()).map(([status, n]) => [{ status }, n]));
  totalFrom(registry, 'loalang_reports_refused_total', 'Play reports refused as inconsistent with what the device was sent (unknown play, too long, final state rewritten…), by refusal', ['refusal'], async () =>
    Object.entries(await core.reports.refusedCounts()).map(([refusal, n]) => [{ refusal }, n]),
  );
  totalFrom(registry, 'loalang_mqtt_messages_in_total', 'MQTT messages received from devices', [], () => [[{}, core.mqtt.stats().messagesIn]]);
  totalFrom(registry, 'loalang_mqtt_messages_out_total', 'MQTT messages sent to devices', [], () => [[{}, core.mqtt.stats().messagesOut]]);
  totalFrom(registry, 'loalang_mqtt_auth_failures_total', 'Refused MQTT logins', [], () => [[{}, core.mqtt.stats().authFailures]]);
  totalFrom(registry, 'loalang_downlinks_refused_total', 'Downlinks devices refused (forged, replayed, expired, unknown key), by reason', ['reason'], () => [...core.refusals].map(([reason, n]) => [{ reason }, n]));
  totalFrom(registry, 'loalang_mqtt_oversize_packets_total', 'MQTT connections closed for announcing a packet over the size limit', [], () => [[{}, core.mqtt.stats().oversizePackets]]);
  totalFrom(registry, 'loalang_mqtt_invalid_messages_total', 'Dropped invalid MQTT payloads, by reason', ['reason'], () =>
    Object.entries(core.mqtt.stats().invalidMessages).map(([reason, n]) => [{ reason }, n]),
  );
  const receipt = new Histogram({
    name: 'loalang_alert_receipt_seconds',
    help: 'Time from issuing an alert to each device confirming it received it',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 120],
    registers: [registry],
  });
  core.alerts.on('receipt', (s) => receipt.observe(s));
  byStateGauge(registry, 'loalang_alert_deliveries', 'Deliveries of active alerts, by state', () => core.alerts.repo.activeDeliveryCounts());
  totalFrom(registry, 'loalang_alerts_total', 'Alerts issued, by current state', ['state'], async () => Object.entries(await core.alerts.repo.countsByState()).map(([state, n]): [Record<string, string>, number] => [{ state }, n]));
  byStateGauge(registry, 'loalang_update_devices', 'Devices in agent rollouts still running or paused, by their update state (issue 20)', () => core.rollouts.repo.openCounts());
  new Gauge({
    name: 'loalang_outbox_messages',
    help: 'Messages owed to other systems (the HTTTN, webhooks) by channel and state (decision 0030)',
    labelNames: ['channel', 'state'],
    registers: [registry],
    async collect() {
      const counts = await core.outbox.counts();
      this.reset();
      for (const [channel, states] of Object.entries(counts)) for (const [state, n] of Object.entries(states)) this.set({ channel, state }, n ?? 0);
    },
  });
  new Gauge({
    name: 'loalang_outbox_oldest_pending_seconds',
    help: 'How long the oldest message still waiting on each channel has waited (alert on the upstream channel above an hour)',
    labelNames: ['channel'],
    registers: [registry],
    async collect() {
      this.reset();
      const now = core.clock.now();
      for (const [channel, states] of Object.entries(await core.outbox.counts())) {
        if (!states.pending) continue;
        const oldest = await core.outbox.oldestPending(channel);
        if (oldest) this.set({ channel }, Math.max(0, (now - Date.parse(oldest.createdAt)) / 1000));
      }
    },
  });
  return registry;
}
