/** Liveness and Prometheus metrics, outside /api/v1. */
import type { FastifyPluginAsync } from 'fastify';
import type { ServerCore } from '@loalang/broker';

function metricLine(name: string, help: string, type: 'gauge' | 'counter', samples: [Record<string, string>, number][]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
    lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
  }
  return lines.join('\n');
}

export const opsRoutes: FastifyPluginAsync<{ core: ServerCore }> = async (app, { core }) => {
  app.get('/healthz', { schema: { hide: true } }, async () => {
    core.db.prepare('SELECT 1').get();
    return { status: 'ok', mqttPort: core.mqttPort };
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const devices = core.devices.list();
    const online = devices.filter((d) => core.mqtt.isOnline(d.id)).length;
    const stats = core.mqtt.stats();
    const invalid = Object.entries(stats.invalidMessages).map(([reason, n]): [Record<string, string>, number] => [{ reason }, n]);
    const body = [
      metricLine('loalang_devices', 'Registered devices by presence', 'gauge', [
        [{ state: 'online' }, online],
        [{ state: 'offline' }, devices.length - online],
      ]),
      metricLine('loalang_mqtt_connected_clients', 'MQTT connections', 'gauge', [[{}, stats.connectedClients]]),
      metricLine('loalang_mqtt_messages_in_total', 'MQTT messages received from devices', 'counter', [[{}, stats.messagesIn]]),
      metricLine('loalang_mqtt_messages_out_total', 'MQTT messages sent to devices', 'counter', [[{}, stats.messagesOut]]),
      metricLine('loalang_mqtt_invalid_messages_total', 'Dropped invalid MQTT payloads', 'counter', invalid.length ? invalid : [[{ reason: 'none' }, 0]]),
      metricLine('loalang_mqtt_auth_failures_total', 'Refused MQTT logins', 'counter', [[{}, stats.authFailures]]),
    ].join('\n');
    return reply.header('Content-Type', 'text/plain; version=0.0.4').send(`${body}\n`);
  });
};
