import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem, type ErrorCode } from '@inloop/protocol';
import { Refusal } from '../../errors.js';
import type { Metrics } from '../../metrics.js';

/** An error that becomes a problem+json response with a stable code (as any domain refusal does). */
export class HttpProblem extends Refusal {
  constructor(code: ErrorCode, detail?: string, extra?: { retryAfterMs?: number }) {
    super(code, detail, extra);
    this.name = 'HttpProblem';
  }
}

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail?: string,
  extra?: { retryAfterMs?: number },
): FastifyReply {
  const retryAfterMs = extra?.retryAfterMs;
  const body = problem(code, detail, retryAfterMs === undefined ? undefined : { retryAfterMs });
  if (retryAfterMs !== undefined) void reply.header('retry-after', Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return reply.code(body.status).type('application/problem+json').send(body);
}

/**
 * A whole HTTP/1.1 response carrying a problem, for the places that answer before fastify has a
 * request (a refused WebSocket upgrade, a request the HTTP parser rejected).
 */
export function rawProblemResponse(
  code: ErrorCode,
  detail?: string,
  extra?: { retryAfterMs?: number; /** A response to HEAD has headers only. */ head?: boolean },
): string {
  const retryAfterMs = extra?.retryAfterMs;
  const doc = problem(code, detail, retryAfterMs === undefined ? undefined : { retryAfterMs });
  const body = JSON.stringify(doc);
  const retryAfter =
    retryAfterMs === undefined ? '' : `Retry-After: ${Math.max(1, Math.ceil(retryAfterMs / 1000))}\r\n`;
  return (
    `HTTP/1.1 ${doc.status} ${STATUS_CODES[doc.status] ?? code}\r\n` +
    `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${retryAfter}Connection: close\r\n\r\n${extra?.head ? '' : body}`
  );
}

/**
 * fastify's own errors (routing, body parsing, limits, validation) in the catalog's terms. The
 * codes are fastify's stable `FST_ERR_*` names; a status alone would lose what went wrong.
 */
const frameworkCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
  FST_ERR_ASYNC_CONSTRAINT: 'bad_request',
};

/** The catalog code (and a safe detail) for any error a request ended with. */
function classify(err: FastifyError): { code: ErrorCode; detail?: string; retryAfterMs?: number } {
  if (err instanceof Refusal) {
    return {
      code: err.code,
      ...(err.detail === undefined ? {} : { detail: err.detail }),
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    };
  }
  if (err.validation) {
    const context = (err as FastifyError & { validationContext?: string }).validationContext;
    if (context === 'params' && err.message.includes('topic')) return { code: 'invalid_topic' };
    // ajv says "one of the allowed values" without them: name them.
    const detail = err.validation
      .map((v) =>
        v.keyword === 'enum' && Array.isArray(v.params.allowedValues)
          ? `${context ?? ''}${v.instancePath} must be one of: ${v.params.allowedValues.join(', ')}`
          : null,
      )
      .filter((d): d is string => d !== null);
    return { code: 'bad_request', detail: detail.length > 0 ? detail.join(', ') : err.message };
  }
  const known = err.code === undefined ? undefined : frameworkCodes[err.code];
  if (known === 'bad_request' && err.code === 'FST_ERR_BAD_URL') return { code: known, detail: 'malformed URL' };
  if (known) return { code: known };
  if (err instanceof SyntaxError) return { code: 'invalid_json' };
  // Any other client error fastify raises: the catalog has no finer code for it.
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return { code: 'bad_request' };
  return { code: 'internal' };
}

/**
 * Every error leaves as `application/problem+json` with a stable code; internals and stacks go
 * to the log only. This is the HTTP side's one mapper: routes throw {@link Refusal}s (or let
 * them rise from the domain) and never build error responses themselves.
 */
export function installProblemHandlers(app: FastifyInstance, metrics: Metrics): void {
  const handle = (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { code, detail, retryAfterMs } = classify(err);
    metrics.errors.inc({ code });
    if (code === 'internal') request.log.error({ err }, 'request failed');
    return sendProblem(reply, code, detail, retryAfterMs === undefined ? undefined : { retryAfterMs });
  };
  app.setErrorHandler(handle);
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 'not_found'));
  // Node answers these two itself, outside any route: CONNECT by dropping the socket, an unknown
  // `Expect` with a bare 417. The node is no proxy, and it may ignore an expectation it does not
  // know (RFC 9110 10.1.1) and answer the request as usual.
  app.server.on('connect', (_request, socket: Duplex) => {
    metrics.errors.inc({ code: 'bad_request' });
    socket.end(rawProblemResponse('bad_request', 'CONNECT is not supported'));
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  app.server.on('checkExpectation', (request, response) => app.server.emit('request', request, response));
}

/**
 * For fastify's `frameworkErrors` option: routing failures (a bad percent-encoding, an over-long
 * path segment) never reach a route or the error handler.
 */
export function frameworkErrors(metrics: Metrics) {
  return (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    const { code, detail } = classify(err);
    metrics.errors.inc({ code });
    void sendProblem(reply, code, detail);
  };
}

/**
 * For the HTTP server's `clientError`: a request Node's parser rejected (headers too large, a
 * malformed request line, a request timeout) still gets a problem document, then the socket
 * closes. A reset socket has nobody to answer.
 */
export function clientErrorHandler(metrics: Metrics) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code: ErrorCode =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'headers_too_large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'request_timeout'
          : 'bad_request';
    metrics.errors.inc({ code });
    if (!socket.writable) return void socket.destroy();
    // The parser gave up mid-request, but the method is in the bytes it kept: HEAD gets no body.
    const raw = (err as { rawPacket?: unknown }).rawPacket;
    const head = Buffer.isBuffer(raw) && raw.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.end(rawProblemResponse(code, undefined, { head }));
    // A peer that never reads the answer does not keep the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  };
}
