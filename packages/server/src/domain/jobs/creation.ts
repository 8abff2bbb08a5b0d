import type { JobState, Json } from '@inloop/protocol';
import type { JobRecord, SizeHint } from '../../ports/job-store.js';
import type { JobCore } from './core.js';
import { UnknownJobTypeError } from './errors.js';
import { newJobId } from './ids.js';

/** What a caller asks for when it creates a job. */
export interface CreateRequest {
  type: string;
  input: Json;
  size: SizeHint | null;
  idempotencyKey: string | null;
  createdBy: string;
}

/** What the creator of a job is told at once. */
export interface StartedJob {
  job: JobRecord;
  /** False when the idempotency key named an existing job. */
  created: boolean;
  /**
   * Its state at creation (for a replayed key: now), with the ETA from creation (including the
   * wait in line) and the wait strategy.
   */
  state: JobState;
  /** When to look again without a stream: about the job's time left, between 1 and 5 s. */
  retryAfterSeconds: number;
  token: { token: string; expiresAt: number } | null;
}

/**
 * Create a job: estimated, stored (idempotent per creator and key), in line, announced by its
 * `job.queued` event, and takers woken. `state` is what its creator is told: for a new job, its
 * state at creation, computed as it joins the line and before anything can lease it, so the
 * promise it carries (time left from `createdAt`, the wait in line included) is the one the line
 * checks when the job ends, whether it then waited or a worker took it at once.
 */
export async function createJob(
  core: JobCore,
  request: CreateRequest,
): Promise<{ job: JobRecord; created: boolean; state: JobState }> {
  const options = core.types.get(request.type);
  if (!options) throw new UnknownJobTypeError(request.type);
  const now = Date.now();
  const estimate = (await core.estimator.estimate(request.type, request.size))!;
  const job: JobRecord = {
    id: newJobId(),
    type: request.type,
    input: request.input,
    size: request.size,
    status: 'queued',
    attempt: 0,
    maxAttempts: options.maxAttempts,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    runAfter: now,
    plan: options.stages,
    stage: null,
    stageWeightDone: 0,
    stageDurations: [],
    measured: null,
    message: null,
    partials: [],
    lease: null,
    fence: 0,
    lastSignAt: null,
    cancelRequested: false,
    cancelRequestedAt: null,
    idempotencyKey: request.idempotencyKey,
    createdBy: request.createdBy,
    estimate,
    epoch: '',
    lastOffset: 0,
  };
  // A broker that inserts a job with its first event (Redis on one server) stores a job without
  // an idempotency key in its `job.queued` step: one call to Redis instead of two. A key needs
  // the store's insert, which answers with the job already holding it.
  const newJob = core.o.queue.holdsJobs && core.o.broker.insertsJobs === true && job.idempotencyKey === null;
  // Both must agree: the broker can queue in the step, and the queue is the one it queues into.
  const queueJob = newJob && core.o.broker.queuesNewJobs === true && core.o.queue.queuedByBroker === true;
  if (!newJob) {
    const inserted = await core.o.store.insert(job);
    if (!inserted.created) return { ...inserted, state: core.stateOf(inserted.job) };
  }
  core.line.queued(job);
  // "Done in" counts from creation: so does the promise. A waiting worker may lease the job as
  // soon as this returns to the event loop (then it is no longer in line, and its state would
  // carry the bare run estimate, not the line's calibrated end to end promise).
  const state = core.stateOf(job, job.createdAt);
  if (core.o.queue.holdsJobs) {
    // No one can take the job before it is queued: its first event and the record that
    // reflects it go first, without a lock; then the queue (the job is durable either way).
    try {
      await core.commit(job, 'job.queued', {}, { wait: true, newJob, queueJob, hold: true });
    } catch (err) {
      // Not created: the job leaves the line it joined.
      if (newJob) core.line.ended(job);
      throw err;
    }
    core.o.metrics.jobsCreated.inc({ type: job.type });
    // Its first step queued it too, and announced it to every node, this one included.
    if (queueJob) return { job, created: true, state };
    // The job is stored, and in the store's outbox until the queue has it: its creator is answered
    // now, as on the embedded store, not after two more calls (the add, and the notice that takes
    // it out of the outbox). An add that fails is made again by the outbox's flush.
    void core.o.queue.add(job).then(
      () => {
        if (!core.o.queue.announcesAdds) core.wake(job.type);
      },
      (err: unknown) => core.o.logger.warn({ err, job: job.id }, 'queueing a job failed; it is queued from the outbox'),
    );
    return { job, created: true, state };
  }
  core.o.metrics.jobsCreated.inc({ type: job.type });
  // The job is durable once inserted: answer now. Its `job.queued` event follows under the
  // job's lock; whoever leases it first publishes that event if it is still missing, so every
  // later change comes after it on the topic.
  void core
    .withLock(job.id, async () => {
      const fresh = await core.o.store.get(job.id);
      if (fresh?.epoch !== '') return;
      await core.commit(fresh, 'job.queued');
    })
    .then(() => core.wake(job.type))
    .catch((err: unknown) => core.o.logger.error({ err, job: job.id }, 'publishing job.queued failed'));
  return { job, created: true, state };
}

/**
 * Create a job and say what its creator sees: its state at creation (the ETA includes the wait
 * in line), its read token, and when to look again without a stream.
 */
export async function startJob(core: JobCore, request: CreateRequest): Promise<StartedJob> {
  const { job, created, state } = await createJob(core, request);
  const token = core.o.readToken ? await core.o.readToken(request.createdBy, job.id) : null;
  const until = state.eta?.remainingMs ?? 1000;
  return { job, created, state, retryAfterSeconds: Math.min(5, Math.max(1, Math.ceil(until / 1000))), token };
}
