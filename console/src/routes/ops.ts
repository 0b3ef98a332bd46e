/** Liveness and Prometheus metrics, outside /api/v1. */
import type { FastifyPluginAsync } from 'fastify';
import type { ServerServices } from '@loalang/broker';
import { buildMetrics } from '../metrics.js';
import { HealthSchema, ok } from '../responses/index.js';

export const opsRoutes: FastifyPluginAsync<{ core: ServerServices }> = async (app, { core }) => {
  app.get('/healthz', { schema: { hide: true, response: ok(HealthSchema) } }, async () => {
    await core.pingDatabase();
    const cluster = core.clusterStats();
    return { status: 'ok', mqttPort: core.mqttPort, node: cluster.nodeId, leader: cluster.leader };
  });

  const metrics = buildMetrics(core);
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.header('Content-Type', metrics.contentType).send(await metrics.metrics());
  });
};
