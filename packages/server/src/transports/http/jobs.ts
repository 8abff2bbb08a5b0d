import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { isTerminal, jobTopic, TERMINAL_EVENTS, type JobEvent, type Json } from '@inloop/protocol';
import { can } from '../../auth/principal.js';
import type { JobService } from '../../domain/jobs/service.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { SizeHint } from '../../ports/job-store.js';
import { jobSseCodec, sseEvent } from '../../session/codecs.js';
import { resumePosition, type SseTransport } from '../sse.js';
import type { Authenticator } from './authenticate.js';
import { HttpProblem } from './problems.js';
import {
  CompleteBody,
  CreatedJob,
  CreateJobBody,
  FailBody,
  HeartbeatBody,
  JobParams,
  JobSnapshotSchema,
  JobTypeParams,
  JobTypeReply,
  JobStatusReply,
  LeaseBody,
  LeaseReply,
  LeaseState,
  ProgressBody,
} from './job-schemas.js';
import { documented, problems, StreamQuery } from './schemas.js';

interface Deps {
  jobs: JobService;
  auth: Authenticator;
  sse: SseTransport;
  /** Creating a job counts against the caller's publish budget (it stores and publishes). */
  limits: RateLimits;
}

/** A size hint is an object with exactly one positive finite number: `{ "audioSeconds": 240 }`. */
export function parseSizeHint(value: unknown): SizeHint | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new HttpProblem('invalid_size_hint');
  const entries = Object.entries(value as Record<string, unknown>);
  const [unit, n] = entries[0] ?? [];
  if (entries.length !== 1 || typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 1e12 || unit!.length > 64) {
    throw new HttpProblem('invalid_size_hint');
  }
  return { unit: unit!, value: n };
}

const isTerminalEvent = (p: { data: Json }) =>
  TERMINAL_EVENTS.includes((p.data as unknown as JobEvent | null)?.type as never);

/** The job API: create, read, watch, cancel; and the remote worker protocol. */
export function jobRoutes(app: FastifyInstance, d: Deps): void {
  /** What a worker is told after complete / fail: where the job ended up. */
  const statusOf = async (id: string) => {
    const job = (await d.jobs.get(id))!;
    return { id, status: job.status, cancelRequested: job.cancelRequested };
  };
  app.post<{ Body: Static<typeof CreateJobBody> }>(
    '/v1/jobs',
    {
      schema: documented({
        summary: 'Start a job',
        description:
          'Answers 202 at once with the job id, a read token for this job, the ETA and the suggested wait strategy. The same `Idempotency-Key` returns the same job.',
        body: CreateJobBody,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 202: CreatedJob, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.principal(request);
      d.limits.admit(principal, 'publish');
      const { type } = request.body;
      if (!can(principal, 'job:create', type))
        throw new HttpProblem('forbidden', 'this token may not create jobs of this type');
      const size = parseSizeHint(request.body.size);
      const key = request.headers['idempotency-key'];
      const { job, created, state, retryAfterSeconds, token } = await d.jobs.start({
        type,
        input: (request.body.input ?? null) as Json,
        size,
        idempotencyKey: typeof key === 'string' ? key : null,
        createdBy: principal.id,
      });
      return accepted(reply, { job, created, state, retryAfterSeconds, token });
    },
  );

  app.get<{ Params: Static<typeof JobTypeParams> }>(
    '/v1/job-types/:type',
    {
      schema: documented({
        summary: 'A job type: its duration model, its line and how well its ETAs held (API key)',
        description:
          'The fitted model (`fixedMs` + `perUnitMs` x size), the jobs queued and running on this node, and the rolling calibration of the last 100 runs: the share that ended within their promised p90 (target 0.9) and the median relative error of the promised p50. For a console to chart.',
        params: JobTypeParams,
        response: { 200: JobTypeReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.backend(request);
      const { type } = request.params;
      const info = await d.jobs.typeInfo(type);
      if (!info) throw new HttpProblem('not_found', `no job type "${type}" is defined on this node`);
      return info;
    },
  );

  app.get<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id',
    {
      schema: documented({
        summary: 'A job’s current snapshot',
        params: JobParams,
        response: { 200: JobSnapshotSchema, ...problems },
      }),
    },
    async (request) => {
      const principal = await d.auth.principal(request);
      const { id } = request.params;
      if (!can(principal, 'job:read', jobTopic(id))) throw new HttpProblem('forbidden');
      const snapshot = await d.jobs.snapshot(id);
      if (!snapshot) throw new HttpProblem('not_found', 'no such job');
      return snapshot;
    },
  );

  app.get<{ Params: Static<typeof JobParams>; Querystring: Static<typeof StreamQuery> }>(
    '/v1/jobs/:id/stream',
    {
      schema: documented({
        summary: 'Watch a job over Server-Sent Events',
        description:
          '`job.snapshot` first, then `job.stage`, `job.progress`, `job.partial`, `job.message`, `job.retrying`, `job.tick` (at least every cadenceMs while the job lives) and exactly one terminal event (`job.succeeded`, `job.failed`, `job.cancelled`), after which the stream ends. Resume with `Last-Event-ID`; 204 once the terminal event has been seen.',
        params: JobParams,
        querystring: StreamQuery,
        response: { 200: { type: 'string', description: 'text/event-stream' }, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.streamPrincipal(request);
      const { id } = request.params;
      if (!can(principal, 'job:read', jobTopic(id))) throw new HttpProblem('forbidden');
      const snapshot = await d.jobs.snapshot(id);
      if (!snapshot) throw new HttpProblem('not_found', 'no such job');
      const last = resumePosition(request.headers['last-event-id'], request.query.since);
      const finished = isTerminal(snapshot.status);
      // An EventSource reconnects after the stream ends; 204 is how SSE tells it to stop.
      if (finished && last && last.epoch === snapshot.epoch && last.offset >= snapshot.offset)
        return reply.code(204).send();
      // Resume from the watcher's position; a new watcher starts at the snapshot, or just before
      // the terminal event so that it is delivered once.
      const since = last ?? { epoch: snapshot.epoch, offset: finished ? snapshot.offset - 1 : snapshot.offset };
      const conn = await d.sse.open(
        request,
        reply,
        principal,
        jobTopic(id),
        since,
        { codec: jobSseCodec, announce: false, endAfter: isTerminalEvent },
        sseEvent('job.snapshot', snapshot),
      );
      // History could not replay the terminal event (another epoch): the snapshot said it all.
      if (conn && finished && !conn.ending && !conn.closed) conn.finish();
    },
  );

  app.post<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id/cancel',
    {
      schema: documented({
        summary: 'Cancel a job',
        description:
          'A queued job ends at once; a running one is told (AbortSignal in process, `cancelRequested` in lease replies) and ends cancelled.',
        params: JobParams,
        response: { 202: JobStatusReply, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.principal(request);
      const { id } = request.params;
      if (!can(principal, 'job:cancel', jobTopic(id))) throw new HttpProblem('forbidden');
      const job = await d.jobs.cancel(id);
      return reply.code(202).send({ id, status: job.status, cancelRequested: job.cancelRequested });
    },
  );

  // -- remote workers (API key) ---------------------------------------------------------------

  app.post<{ Body: Static<typeof LeaseBody> }>(
    '/v1/workers/lease',
    {
      schema: documented({
        summary: 'Lease the next job of the given types (long-poll)',
        description: '200 with the job and a lease, or 204 when none became available within waitMs.',
        body: LeaseBody,
        response: { 200: LeaseReply, 204: { type: 'null' }, ...problems },
      }),
    },
    async (request, reply) => {
      const principal = await d.auth.backend(request);
      const { types, waitMs, leaseMs } = request.body;
      const unknown = types.find((t) => !d.jobs.typeOptions(t));
      if (unknown) throw new HttpProblem('unknown_job_type', `no job type "${unknown}" is defined on this node`);
      const abort = new AbortController();
      request.raw.on('close', () => abort.abort());
      const worker = `remote:${request.body.worker ?? principal.id}`;
      const job = await d.jobs.waitForLease(types, worker, waitMs, leaseMs, abort.signal);
      if (!job) return reply.code(204).send();
      if (abort.signal.aborted) {
        // The worker left while we leased: let the lease lapse quickly rather than wait it out.
        request.log.warn(
          { job: job.id },
          'worker disconnected during lease; the job will be retried when the lease expires',
        );
      }
      return {
        job: { id: job.id, type: job.type, input: job.input, size: job.size, attempt: job.attempt },
        lease: { token: job.lease!.token, fence: job.lease!.fence, expiresAt: job.lease!.expiresAt },
      };
    },
  );

  const report = (path: string, summary: string, body: typeof ProgressBody | typeof HeartbeatBody) =>
    app.post<{ Params: Static<typeof JobParams>; Body: Static<typeof ProgressBody> }>(
      `/v1/jobs/:id/${path}`,
      { schema: documented({ summary, params: JobParams, body, response: { 200: LeaseState, ...problems } }) },
      async (request) => {
        await d.auth.backend(request);
        const { lease, progress, stage, partial, message } = request.body;
        return d.jobs.report(request.params.id, lease, {
          sign: true,
          ...(progress === undefined ? {} : { progress }),
          ...(stage === undefined ? {} : { stage }),
          ...(partial === undefined ? {} : { partial: partial as Json }),
          ...(message === undefined ? {} : { message }),
        });
      },
    );
  report('progress', 'Report stage, progress, a partial result or a message (renews the lease)', ProgressBody);
  report('heartbeat', 'Renew the lease; the reply says whether cancellation was requested', HeartbeatBody);

  app.post<{ Params: Static<typeof JobParams>; Body: Static<typeof CompleteBody> }>(
    '/v1/jobs/:id/complete',
    {
      schema: documented({
        summary: 'Finish a job with its result',
        params: JobParams,
        body: CompleteBody,
        response: { 200: JobStatusReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.backend(request);
      const { id } = request.params;
      await d.jobs.complete(id, request.body.lease, (request.body.result ?? null) as Json);
      return statusOf(id);
    },
  );

  app.post<{ Params: Static<typeof JobParams>; Body: Static<typeof FailBody> }>(
    '/v1/jobs/:id/fail',
    {
      schema: documented({
        summary: 'Report a failed attempt',
        description: 'Retried with backoff while attempts remain, unless `retryable` is false.',
        params: JobParams,
        body: FailBody,
        response: { 200: JobStatusReply, ...problems },
      }),
    },
    async (request) => {
      await d.auth.backend(request);
      const { id } = request.params;
      const { lease, error, retryable } = request.body;
      await d.jobs.fail(id, lease, { code: error.code ?? 'worker_error', message: error.message }, retryable);
      return statusOf(id);
    },
  );
}

/**
 * The `202` of a job started (`POST /v1/jobs`, or a retry from the console): where to watch it,
 * when to look, and its token, ETA and place in line; `idempotent-replayed` when the key named
 * a job that already existed.
 */
export function accepted(reply: FastifyReply, o: Awaited<ReturnType<JobService['start']>>): Static<typeof CreatedJob> {
  const { job, created, state, retryAfterSeconds, token } = o;
  void reply.code(202).header('location', `/v1/jobs/${job.id}`).header('retry-after', String(retryAfterSeconds));
  if (!created) void reply.header('idempotent-replayed', 'true');
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    topic: jobTopic(job.id),
    token: token?.token ?? '',
    tokenExpiresAt: token?.expiresAt ?? 0,
    eta: state.eta,
    ...(state.queue ? { queue: state.queue } : {}),
    strategy: state.strategy,
    createdAt: job.createdAt,
    links: { self: `/v1/jobs/${job.id}`, stream: `/v1/jobs/${job.id}/stream`, cancel: `/v1/jobs/${job.id}/cancel` },
  };
}
