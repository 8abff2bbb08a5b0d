import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { problem, type ErrorCode } from '@inloop/protocol';
import { ApiKeys } from '../../auth/api-keys.js';
import type { Metrics } from '../../metrics.js';
import { HttpProblem } from './problems.js';
import { documented } from './schemas.js';

export interface OperationRoutesOptions {
  metrics: Metrics;
  ready: () => Promise<boolean>;
  /** Bearer token `/metrics` requires (config `metricsToken`); open to anyone without one. */
  metricsToken?: string | undefined;
  /** False when `/metrics` has a listener of its own (config `metricsPort`). @default true */
  serveMetrics?: boolean;
}

/**
 * Whether a request's `Authorization` header carries the metrics token (compared by digest in
 * constant time, like API keys); any request will do when there is no token.
 */
function metricsGuard(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const keys = new ApiKeys([{ name: 'metrics', key: token }]);
  return (header) => header?.startsWith('Bearer ') === true && keys.verify(header.slice(7).trim()) !== null;
}

/** `/healthz` (the process is up), `/readyz` (it can serve: storage reachable, not draining), `/metrics`. */
export function operationRoutes(app: FastifyInstance, deps: OperationRoutesOptions): void {
  app.get('/healthz', { schema: documented({ summary: 'Liveness', hide: false }) }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: documented({ summary: 'Readiness' }) }, async (_request, reply) => {
    const ready = await deps.ready().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
  if (deps.serveMetrics === false) return;
  const allowed = metricsGuard(deps.metricsToken);
  app.get(
    '/metrics',
    { schema: documented({ summary: 'Prometheus metrics (Bearer metricsToken when configured)' }) },
    async (request, reply) => {
      if (!allowed(request.headers.authorization)) {
        void reply.header('www-authenticate', 'Bearer');
        throw new HttpProblem('unauthorized', 'send Authorization: Bearer <metricsToken>');
      }
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
  );
}

/** The separate `/metrics` listener of {@link listenMetrics}. */
export interface MetricsListener {
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serve `GET /metrics` alone on a listener of its own (config `metricsPort`, `metricsHost`), so
 * the scrape endpoint can stay on a private interface while the main port faces the internet.
 * Everything else there is 404; `metricsToken` applies here too.
 */
export async function listenMetrics(options: {
  metrics: Metrics;
  host: string;
  port: number;
  token?: string | undefined;
}): Promise<MetricsListener> {
  const allowed = metricsGuard(options.token);
  const send = (res: ServerResponse, code: ErrorCode, detail?: string): void => {
    const body = JSON.stringify(problem(code, detail));
    res.writeHead(problem(code).status, {
      'content-type': 'application/problem+json',
      ...(code === 'unauthorized' ? { 'www-authenticate': 'Bearer' } : {}),
    });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return send(res, 'not_found');
    if (!allowed(req.headers.authorization))
      return send(res, 'unauthorized', 'send Authorization: Bearer <metricsToken>');
    options.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => send(res, 'internal'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `${hostUrl(options.host, port)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `http://host:port` for a listen address; a wildcard address is reached on loopback. */
export function hostUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
