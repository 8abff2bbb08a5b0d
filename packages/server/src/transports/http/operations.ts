import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.js';
import { documented } from './schemas.js';

/** `/healthz` (the process is up), `/readyz` (it can serve: storage reachable, not draining), `/metrics`. */
export function operationRoutes(app: FastifyInstance, deps: { metrics: Metrics; ready: () => Promise<boolean> }): void {
  app.get('/healthz', { schema: documented({ summary: 'Liveness', hide: false }) }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: documented({ summary: 'Readiness' }) }, async (_request, reply) => {
    const ready = await deps.ready().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
  app.get('/metrics', { schema: documented({ summary: 'Prometheus metrics' }) }, async (_request, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
