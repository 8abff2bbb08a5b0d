import type { FastifySchema } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MAX_IDEMPOTENCY_KEY_LENGTH, Operations } from '@inloop/protocol';
import { MAX_TOKEN_TTL_SECONDS } from '../../auth/tokens.js';

/** Route schemas: they validate every request and generate `/openapi.json`. */
export const TopicParams = Type.Object({
  topic: Type.String({ pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$', description: 'Topic name' }),
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable error code (docs/errors.md)' }),
    detail: Type.Optional(Type.String()),
    retryable: Type.Boolean(),
    retryAfterMs: Type.Optional(Type.Integer()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
);

const problemRef = Type.Ref('Problem');
/** Problem responses shared by every route. */
export const problems = {
  400: problemRef,
  401: problemRef,
  403: problemRef,
  409: problemRef,
  413: problemRef,
  429: problemRef,
  503: problemRef,
};

export const PublishBody = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value' }),
  ephemeral: Type.Optional(Type.Boolean({ description: 'Deliver live only: no offset, never stored' })),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH })),
});

export const PublishReply = Type.Object({
  epoch: Type.Optional(Type.String()),
  offset: Type.Optional(Type.Integer()),
  duplicate: Type.Optional(Type.Boolean()),
  ephemeral: Type.Optional(Type.Boolean()),
});

export const HistoryQuery = Type.Object({
  after: Type.Integer({ minimum: 0, default: 0, description: 'Return publications with offset > after' }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});

export const HistoryReply = Type.Object({
  topic: Type.String(),
  epoch: Type.String(),
  earliest: Type.Integer({ description: 'Lowest offset still in history (latest + 1 when empty)' }),
  latest: Type.Integer(),
  truncated: Type.Boolean({ description: 'True when `after + 1 < earliest`: some publications are gone' }),
  next: Type.Integer({ description: 'Pass as `after` to read the next page: the last offset returned (or `after`)' }),
  more: Type.Boolean({
    description:
      'True when publications after `next` exist now (the page stopped at `limit` or at maxHistoryPageBytes)',
  }),
  messages: Type.Array(
    Type.Object({ offset: Type.Integer(), data: Type.Unknown(), from: Type.String(), ts: Type.Integer() }),
  ),
});

export const StreamQuery = Type.Object({
  since: Type.Optional(Type.String({ description: 'Resume position `epoch:offset` (Last-Event-ID wins)' })),
  presence: Type.Optional(
    Type.Union([Type.Literal('1'), Type.Literal('0')], {
      description:
        '`1`: also watch the topic’s presence (`presence.state`, then `presence.diff` events); needs the presence right',
    }),
  ),
  token: Type.Optional(
    Type.String({ description: 'Client token, for EventSource (never an API key: use the header); never logged' }),
  ),
});

export const MintBody = Type.Object({
  subject: Type.String({ minLength: 1, maxLength: 256 }),
  ttlSeconds: Type.Integer({ minimum: 1, maximum: MAX_TOKEN_TTL_SECONDS, default: 900 }),
  scopes: Type.Array(
    Type.Object({
      ops: Type.Array(Type.Union(Operations.map((op) => Type.Literal(op))), { minItems: 1 }),
      topics: Type.Array(Type.String({ pattern: '^(\\*|[A-Za-z0-9_\\-.:@=+]{1,200}\\*?)$' }), {
        minItems: 1,
        maxItems: 256,
      }),
    }),
    { maxItems: 64 },
  ),
});

export const MintReply = Type.Object({
  token: Type.String(),
  expiresAt: Type.Integer({ description: 'ms since the epoch' }),
});

/** A route schema with the OpenAPI fields @fastify/swagger reads. */
export interface DocumentedSchema extends FastifySchema {
  summary?: string;
  description?: string;
  hide?: boolean;
}

/** Identity, typed: lets route files document their schemas for `/openapi.json`. */
export const documented = (schema: DocumentedSchema): FastifySchema => schema;
