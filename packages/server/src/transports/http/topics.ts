import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { isReservedTopic, type Json } from '@inloop/protocol';
import type { Access } from '../../auth/access.js';
import { can } from '../../auth/principal.js';
import type { Hub } from '../../domain/hub.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import { readBoundedPage } from '../../domain/history-pages.js';
import type { Broker } from '../../ports/broker.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import { documented, HistoryQuery, HistoryReply, problems, PublishBody, PublishReply, TopicParams } from './schemas.js';

interface Deps {
  hub: Hub;
  broker: Broker;
  auth: Authenticator;
  access: Access;
  limits: RateLimits;
  /** Bytes of publication data per history page (config `maxHistoryPageBytes`). */
  maxHistoryPageBytes: number;
}

/** `POST /v1/topics/{topic}/messages` (publish) and `GET` of the same path (history). */
export function topicRoutes(
  app: FastifyInstance,
  { hub, broker, auth, access, limits, maxHistoryPageBytes }: Deps,
): void {
  app.post<{ Params: Static<typeof TopicParams>; Body: Static<typeof PublishBody> }>(
    '/v1/topics/:topic/messages',
    {
      schema: documented({
        summary: 'Publish to a topic',
        description:
          'Stored publications get the next offset; ephemeral ones are delivered live only. An `Idempotency-Key` header (or body field) makes a retry return the original offset.',
        params: TopicParams,
        body: PublishBody,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 200: PublishReply, 201: PublishReply, 202: PublishReply, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await auth.principal(request);
      limits.admit(principal, 'publish');
      const { topic } = request.params;
      if (!can(principal, 'publish', topic)) throw new HttpProblem('forbidden');
      if (isReservedTopic(topic)) throw new HttpProblem('reserved_topic');
      if (request.body.data === undefined) throw new HttpProblem('bad_request', 'body must have a data member');
      const header = request.headers['idempotency-key'];
      const idempotencyKey = (typeof header === 'string' ? header : undefined) ?? request.body.idempotencyKey;
      const outcome = await hub.publish(topic, {
        data: request.body.data as Json,
        from: principal.id,
        ephemeral: request.body.ephemeral === true,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      if (outcome.ephemeral) return reply.code(202).send({ ephemeral: true });
      const { epoch, offset, duplicate } = outcome;
      return reply.code(duplicate ? 200 : 201).send({ epoch, offset, duplicate });
    },
  );

  app.get<{ Params: Static<typeof TopicParams>; Querystring: Static<typeof HistoryQuery> }>(
    '/v1/topics/:topic/messages',
    {
      schema: documented({
        summary: 'Read history after an offset',
        description:
          'At most `limit` publications and about `maxHistoryPageBytes` of them (at least one); `more` says whether more wait after `next`.',
        params: TopicParams,
        querystring: HistoryQuery,
        response: { 200: HistoryReply, ...problems },
      }),
    },
    async (request) => {
      const principal = await auth.principal(request);
      const { topic } = request.params;
      const refusal = await access.check(principal, 'history', topic);
      if (refusal) throw new HttpProblem(refusal);
      const { after, limit } = request.query;
      const page = await readBoundedPage(broker, topic, after, limit, maxHistoryPageBytes);
      return {
        topic,
        epoch: page.epoch,
        earliest: page.earliest,
        latest: page.latest,
        truncated: after + 1 < page.earliest,
        next: page.next,
        more: page.more,
        messages: page.publications.map(({ offset, data, from, ts }) => ({ offset, data, from, ts })),
      };
    },
  );
}
