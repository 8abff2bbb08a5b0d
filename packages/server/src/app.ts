import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { inspectJson, JsonFaultDetail, PROTOCOL_VERSION } from '@inloop/protocol';
import type { Config } from './config.js';
import type { Origins } from './auth/origins.js';
import type { Metrics } from './metrics.js';
import { redactUrl } from './logger.js';
import { originGuard } from './transports/http/cors.js';
import {
  clientErrorHandler,
  frameworkErrors,
  HttpProblem,
  installProblemHandlers,
} from './transports/http/problems.js';
import { strictQueryNumbers } from './transports/http/strict-query.js';
import { boundPipelining } from './transports/http/pipelining.js';
import { documented, ProblemSchema } from './transports/http/schemas.js';

/**
 * The HTTP server's timeouts (fastify's and Node's own): a client gets `httpHeadersTimeoutMs` to
 * send its headers and `httpRequestTimeoutMs` for the whole request, after which it is answered
 * 408 `request_timeout` (see `clientErrorHandler`); a connection silent both ways for
 * `httpIdleTimeoutMs` is closed. Node checks the first two on a timer, run here often enough
 * that a timeout is not overshot by more than about a second.
 */
function httpTimeouts(config: Readonly<Config>) {
  const headersTimeout = config.httpHeadersTimeoutMs;
  const requestTimeout = config.httpRequestTimeoutMs;
  return {
    connectionTimeout: config.httpIdleTimeoutMs,
    requestTimeout,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    http: {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(headersTimeout / 4))),
    },
  };
}

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
    // Topic names run to 200 characters, and a client may percent-encode every one of them.
    routerOptions: { maxParamLength: 1024 },
    // Prototype keys are refused below, by the same check as WebSocket frames (one code, one detail).
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    frameworkErrors: frameworkErrors(deps.metrics),
    clientErrorHandler: clientErrorHandler(deps.metrics),
    forceCloseConnections: true,
    return503OnClosing: true,
    ...httpTimeouts(deps.config),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: redactUrl(request.url), status: reply.statusCode }, 'request');
  });
  installProblemHandlers(app, deps.metrics);
  // A client that pipelines many reads and never reads the answers holds two, not all of them.
  boundPipelining(app);
  strictQueryNumbers(app);
  // Bodies are JSON: fastify's default text/plain parser would hand a string to schemas that then
  // answer 400; a body of any other type is 415 unsupported_media_type, text included.
  app.removeContentTypeParser('text/plain');
  // Before any schema or handler walks a body: deep nesting (and the rest of inspectJson's list)
  // is refused at the door.
  const maxDepth = deps.config.maxJsonDepth;
  app.addHook('preValidation', async (request) => {
    const fault = inspectJson(request.body, maxDepth);
    if (fault === 'too_deep') throw new HttpProblem('too_deep');
    if (fault !== null) throw new HttpProblem('bad_request', JsonFaultDetail[fault]);
  });
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
