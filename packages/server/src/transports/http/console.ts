import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { can } from '../../auth/principal.js';
import type { PublicationCodec } from '../../domain/outlet.js';
import type { Activity } from '../../domain/operations/activity.js';
import { JOB_FEED_TOPIC, type JobFeed } from '../../domain/operations/job-feed.js';
import type { JobViews } from '../../domain/operations/job-views.js';
import { accepted } from './jobs.js';
import { activityOf, budgetOf, nodesOf } from '../../domain/operations/overview.js';
import { clusterTypeNames, typeStats } from '../../domain/operations/type-stats.js';
import type { JobService } from '../../domain/jobs/service.js';
import type { JobStore } from '../../ports/job-store.js';
import { sseEvent } from '../../session/codecs.js';
import type { SseTransport } from '../sse.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import { CreatedJob, JobParams, JobTypeParams } from './job-schemas.js';
import {
  ActivityReply,
  BudgetReply,
  JobFeedQuery,
  JobListQuery,
  JobListReply,
  JobTimelineReply,
  JobTypesReply,
  JobTypeStatsReply,
  NodesReply,
} from './console-schemas.js';
import { documented, problems } from './schemas.js';

interface Deps {
  jobs: JobService;
  store: JobStore;
  views: JobViews;
  activity: Activity;
  auth: Authenticator;
  sse: SseTransport;
  feed: JobFeed;
  nodeId: string;
}

const ADMIN = 'API key, or a token granting `admin` on `console`.';
/** The job feed's Server-Sent Events: one `job` event per change, its data a `JobChange`. */
const jobFeedCodec: PublicationCodec = {
  encode: (publications) => Buffer.from(publications.map((p) => sseEvent('job', p.data)).join('')),
  message: (message) => Buffer.from(sseEvent(message.type, message)),
};

/** The header `POST /v1/jobs` reads too. */
const IDEMPOTENCY = {
  type: 'object',
  properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

/**
 * The operator's read APIs (what `/console` is built on, and what a team's own dashboard can
 * use): job listings and timelines, a retry, job types with their charts, the interactivity
 * budget, topics and people, and the nodes. On a cluster every view covers all nodes.
 */
export function consoleRoutes(app: FastifyInstance, d: Deps): void {
  app.get<{ Querystring: Static<typeof JobListQuery> }>(
    '/v1/jobs',
    {
      schema: documented({
        summary: 'List jobs, newest first, by type and status',
        description: `Cursor pagination: pass \`next\` as \`cursor\`. A page may hold fewer than \`limit\` jobs while \`next\` is not null (a filter read a bounded number of records). ${ADMIN}`,
        querystring: JobListQuery,
        response: { 200: JobListReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      const { type, status, cursor, limit } = request.query;
      return d.views.list({ type, status, cursor, limit });
    },
  );

  app.get<{ Querystring: Static<typeof JobFeedQuery> }>(
    '/v1/jobs/stream',
    {
      schema: documented({
        summary: 'Watch every job over Server-Sent Events: each change of a job of any type, on any node',
        description: `\`ready\` once the stream is subscribed (\`{"node": "<id>"}\`), then one \`job\` event per stored event of any job (\`{"event": "job.started", "job": <the job's row as in GET /v1/jobs>}\`, \`promised\` null on an ended job's events), heartbeat comments, and \`disconnect\` before the node ends the stream. Live only: no event ids and no replay, so read \`GET /v1/jobs\` after \`ready\` (after every reconnect too) and keep, per job, the row with the highest \`offset\`. On a cluster the events of every node arrive; a node starts sending them within a moment of the first stream opening anywhere. ${ADMIN} A token may come as \`?token=\` (for EventSource); an API key only in the header.`,
        querystring: JobFeedQuery,
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.streamPrincipal(request);
      if (!can(principal, 'admin', 'console'))
        throw new HttpProblem('forbidden', 'this endpoint needs an API key or a token with the admin operation');
      const conn = await d.sse.open(request, reply, principal, JOB_FEED_TOPIC, undefined, {
        codec: jobFeedCodec,
        announce: false,
      });
      if (!conn || conn.closed) return;
      await d.feed.opened();
      conn.push(Buffer.from(sseEvent('ready', { node: d.nodeId })));
    },
  );

  app.get<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id/timeline',
    {
      schema: documented({
        summary: 'A job’s timeline: its snapshot, every stored event, its attempts, the ETA told at creation',
        description: `Read from the job topic’s history. ${ADMIN}`,
        params: JobParams,
        response: { 200: JobTimelineReply, 404: Type.Ref('Problem'), ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      const timeline = await d.views.timeline(request.params.id);
      if (!timeline) throw new HttpProblem('not_found', 'no such job');
      return timeline;
    },
  );

  app.post<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id/retry',
    {
      schema: documented({
        summary: 'Run an ended job again',
        description: `A new job of the same type with the same input and size (202, as \`POST /v1/jobs\`: the same \`Idempotency-Key\` returns the same new job); \`job_not_finished\` while the job lives. ${ADMIN}`,
        params: JobParams,
        headers: IDEMPOTENCY,
        response: { 202: CreatedJob, 404: Type.Ref('Problem'), ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.admin(request);
      const key = request.headers['idempotency-key'];
      const { job, created, state, retryAfterSeconds, token } = await d.views.retry(
        request.params.id,
        principal.id,
        typeof key === 'string' ? key : null,
      );
      return accepted(reply, { job, created, state, retryAfterSeconds, token });
    },
  );

  app.get(
    '/v1/job-types',
    {
      schema: documented({
        summary: 'Every job type defined on any node, with its model, line and calibration',
        description: `On a cluster the types come from the nodes’ reports on the shared backend; a type’s model is read from the shared durations, its line is this node’s. ${ADMIN}`,
        response: { 200: JobTypesReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      const types = [];
      for (const type of clusterTypeNames(d.jobs, await d.activity.reports()))
        types.push((await d.jobs.typeInfo(type, true))!);
      return { types };
    },
  );

  app.get<{ Params: Static<typeof JobTypeParams> }>(
    '/v1/job-types/:type/stats',
    {
      schema: documented({
        summary: 'A job type’s charts: durations histogram, recent runs (wait, run, promise), series over all nodes',
        description: ADMIN,
        params: JobTypeParams,
        response: { 200: JobTypeStatsReply, 404: Type.Ref('Problem'), ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      const { type } = request.params;
      const stats = await typeStats(type, { ...d, reports: await d.activity.reports() });
      if (!stats)
        throw new HttpProblem(
          'not_found',
          `no job type "${type}" is defined on any node, and none of its jobs is stored`,
        );
      return stats;
    },
  );

  app.get(
    '/v1/console/budget',
    {
      schema: documented({
        summary: 'The interactivity budget: longest silence per job watcher, gaps, first-event latency (all nodes)',
        description: `Histograms in seconds, summed over the nodes. ${ADMIN}`,
        response: { 200: BudgetReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      return budgetOf(await d.activity.reports());
    },
  );

  app.get(
    '/v1/console/activity',
    {
      schema: documented({
        summary:
          'Topics and people: busiest topics, connections by transport, presence, cut-offs and refusals over time',
        description: `Series of the last ten minutes at \`sampleMs\`, summed over the nodes. ${ADMIN}`,
        response: { 200: ActivityReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      return activityOf(await d.activity.reports(), d.activity.sampleMs);
    },
  );

  app.get(
    '/v1/console/nodes',
    {
      schema: documented({
        summary: 'The nodes: each one’s connections and health (from the shared backend on a cluster)',
        description: ADMIN,
        response: { 200: NodesReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.admin(request);
      return { self: d.nodeId, nodes: nodesOf(await d.activity.reports(), d.activity.sampleMs) };
    },
  );
}
