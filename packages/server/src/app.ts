import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { PROTOCOL_VERSION } from '@inloop/protocol';
import type { Config } from './config.js';
import type { Origins } from './auth/origins.js';
import type { Metrics } from './metrics.js';
import { redactUrl } from './logger.js';
import { originGuard } from './transports/http/cors.js';
import { installProblemHandlers } from './transports/http/problems.js';
import { documented, ProblemSchema } from './transports/http/schemas.js';

/**
 * The fastify instance with what every route shares: problem+json errors, the origin guard,
 * the shared schemas and the OpenAPI generator (served at `/openapi.json`).
 */
export async function createApp(deps: {
  config: Readonly<Config>;
  logger: Logger;
  metrics: Metrics;
  origins: Origins;
}): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Request lines are logged at debug by the onResponse hook below, with tokens redacted.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.maxMessageBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: redactUrl(request.url), status: reply.statusCode }, 'request');
  });
  installProblemHandlers(app, deps.metrics);
  originGuard(app, deps.origins);
  app.addSchema(ProblemSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Inloop',
        version: String(PROTOCOL_VERSION),
        description:
          'Topics, live status and messaging signals. Errors are application/problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key or client token' } },
      },
      security: [{ bearer: [] }],
    },
  });
  app.get('/openapi.json', { schema: documented({ hide: true }) }, async () => app.swagger());
  return app;
}
