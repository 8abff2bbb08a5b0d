import type { FastifyInstance } from 'fastify';
import type { Origins } from '../../auth/origins.js';
import { sendProblem } from './problems.js';

const ALLOW_HEADERS = 'authorization, content-type, idempotency-key, last-event-id';

/**
 * Browser origins: a request whose Origin is not allowed is refused with `origin_not_allowed`
 * (not merely left without CORS headers), so misconfiguration is visible.
 */
export function originGuard(app: FastifyInstance, origins: Origins): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!origins.allows(origin, request.headers.host)) return sendProblem(reply, 'origin_not_allowed');
    void reply.header('access-control-allow-origin', origin).header('vary', 'origin');
    void reply.header('access-control-expose-headers', 'location, retry-after');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      return reply
        .header('access-control-allow-methods', 'GET, POST, PUT, DELETE, OPTIONS')
        .header('access-control-allow-headers', ALLOW_HEADERS)
        .header('access-control-max-age', '600')
        .code(204)
        .send();
    }
  });
}
