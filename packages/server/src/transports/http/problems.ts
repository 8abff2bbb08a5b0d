import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { problem, type ErrorCode } from '@inloop/protocol';
import { Refusal } from '../../domain/refusal.js';
import type { Metrics } from '../../metrics.js';
import { IdempotencyConflictError } from '../../ports/broker.js';

/** An error that becomes a problem+json response with a stable code (as any domain refusal does). */
export class HttpProblem extends Refusal {
  constructor(
    code: ErrorCode,
    detail?: string,
    readonly extra?: { retryAfterMs?: number },
  ) {
    super(code, detail);
    this.name = 'HttpProblem';
  }
}

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail?: string,
  extra?: { retryAfterMs?: number },
): FastifyReply {
  const body = problem(code, detail, extra);
  if (extra?.retryAfterMs !== undefined) void reply.header('retry-after', Math.ceil(extra.retryAfterMs / 1000));
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** Map fastify's own errors (validation, body parsing, limits) onto the catalog. */
function classify(err: FastifyError): { code: ErrorCode; detail?: string } {
  if (err instanceof IdempotencyConflictError) return { code: 'idempotency_conflict' };
  if (err instanceof Refusal)
    return err.detail === undefined ? { code: err.code } : { code: err.code, detail: err.detail };
  if (err.validation) {
    const context = (err as FastifyError & { validationContext?: string }).validationContext;
    if (context === 'params' && err.message.includes('topic')) return { code: 'invalid_topic' };
    return { code: 'bad_request', detail: err.message };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'invalid_json' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'bad_request', detail: 'unsupported or malformed body' };
  }
  if (err instanceof SyntaxError) return { code: 'invalid_json' };
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return { code: 'bad_request' };
  return { code: 'internal' };
}

/**
 * Every error leaves as `application/problem+json` with a stable code; internals and stacks go
 * to the log only.
 */
export function installProblemHandlers(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, detail } = classify(err);
    metrics.errors.inc({ code });
    if (code === 'internal') request.log.error({ err }, 'request failed');
    const extra = err instanceof HttpProblem ? err.extra : undefined;
    return sendProblem(reply, code, detail, extra);
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 'not_found'));
}
