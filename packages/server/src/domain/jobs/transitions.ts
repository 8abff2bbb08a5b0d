import { isTerminal, type JobError, type Json } from '@inloop/protocol';
import type { NextTaken } from '../../ports/job-queue.js';
import type { JobRecord } from '../../ports/job-store.js';
import type { JobCore } from './core.js';
import { JobFinishedError, JobNotFoundError, LeaseLostError } from './errors.js';
import { learnFromRun } from './estimates.js';
import { retryOrFail } from './recovery.js';
import type { Report } from './types.js';

/** Partial results a job keeps at most (see `JobServiceOptions.maxPartialsBytes`). */
export const MAX_PARTIALS = 1000;

const CANCELLED: JobError = { code: 'cancelled', message: 'Cancelled' };

/** A worker's report under its lease: renews the lease and publishes what changed. */
export function report(
  core: JobCore,
  id: string,
  token: string,
  report: Report,
): Promise<{ cancelRequested: boolean; leaseExpiresAt: number; fence: number }> {
  // A change fenced out by another node's write runs again on the stored record (Redis: see
  // RedisJobLocks). Stages and messages compare with that record, so a rerun does not repeat
  // them; a partial result is a new item each time, so it is published once per report.
  let partialPublished = false;
  return core.leased(id, token, async (job, lease) => {
    const now = Date.now();
    const leaseMs = core.leaseMsOf(job.type);
    // Renew the queue's lock once a quarter of the lease is used, not on every report.
    if (lease.expiresAt - now < (leaseMs * 3) / 4) {
      if (!(await core.o.queue.renew(job, token, leaseMs))) throw new LeaseLostError();
      lease.expiresAt = now + leaseMs;
    }
    if (report.sign) job.lastSignAt = now;
    if (report.stage) await enterStage(core, job, report.stage, now);
    if (report.message !== undefined && report.message !== job.message) {
      job.message = report.message.slice(0, 500);
      await core.publish(job, 'job.message');
    }
    if (report.partial !== undefined && !partialPublished && partialFits(core, job, report.partial)) {
      job.partials.push(report.partial);
      await core.publish(job, 'job.partial', { partial: report.partial });
      partialPublished = true;
    }
    if (report.progress !== undefined) {
      job.measured = Math.min(1, Math.max(0, report.progress));
      await progressEvent(core, job, now);
    }
    core.save(job);
    return { cancelRequested: job.cancelRequested, leaseExpiresAt: lease.expiresAt, fence: lease.fence };
  });
}

/** Whether `partial` may join the job's kept partials: within 1,000 and `maxPartialsBytes`. */
function partialFits(core: JobCore, job: JobRecord, partial: Json): boolean {
  if (job.partials.length >= MAX_PARTIALS) return false;
  const bytes = JSON.stringify(job.partials).length + JSON.stringify(partial).length;
  return bytes <= (core.o.maxPartialsBytes ?? 262_144);
}

async function enterStage(
  core: JobCore,
  job: JobRecord,
  stage: { name: string; weight?: number },
  now: number,
): Promise<void> {
  if (job.stage?.name === stage.name) return;
  if (job.stage) {
    job.stageWeightDone += job.stage.weight;
    job.stageDurations.push({ name: job.stage.name, ms: now - job.stage.startedAt });
  }
  const planned = job.plan?.find((s) => s.name === stage.name);
  // A stage the plan does not know means the plan is wrong for this run: estimate without it.
  if (job.plan && !planned) job.plan = null;
  const estimate = await core.estimator.estimate(job.type, job.size, stage.name);
  job.stage = {
    name: stage.name,
    index: job.stage ? job.stage.index + 1 : 0,
    weight: planned?.weight ?? stage.weight ?? 1,
    startedAt: now,
    p50Ms: estimate?.p50Ms ?? null,
  };
  // Within a plan a fraction is the stage's; without one it is the job's and holds across stages.
  if (job.plan) job.measured = null;
  await core.publish(job, 'job.stage');
}

async function progressEvent(core: JobCore, job: JobRecord, now: number): Promise<void> {
  if (core.progressThrottle.take(job.id, now, () => trailingProgress(core, job.id)))
    await core.publish(job, 'job.progress');
}

function trailingProgress(core: JobCore, id: string): void {
  void core
    .withLock(id, async () => {
      const fresh = await core.o.store.get(id);
      if (!fresh || fresh.status !== 'running') return;
      await core.commit(fresh, 'job.progress');
    })
    .catch((err: unknown) => core.o.logger.error({ err, job: id }, 'progress event failed'));
}

/**
 * The worker's result. `held`: see `JobCore.leased` (nothing here changes more than the record
 * before the fenced step, so a run refused there leaves nothing behind). `takeNext`: the worker
 * takes the type's next due job as this one leaves the queue, where the queue can
 * (`completeAndTake`); resolves to it (not yet leased: see `leaseTaken`), or says why not
 * ({@link NextTaken}).
 */
export async function complete(
  core: JobCore,
  id: string,
  token: string,
  result: Json,
  held?: JobRecord,
  takeNext = false,
): Promise<NextTaken> {
  return core.leased(
    id,
    token,
    async (job) => {
      if (job.cancelRequested) return finishTaking(core, job, 'cancelled', { error: CANCELLED }, false);
      job.result = result;
      return finishTaking(core, job, 'succeeded', {}, takeNext);
    },
    held,
  );
}

/** The worker failed. Retried with backoff while attempts remain, unless `retryable` is false. */
export function fail(core: JobCore, id: string, token: string, error: JobError, retryable = true): Promise<void> {
  return core.leased(id, token, async (job) => {
    if (job.cancelRequested) return finish(core, job, 'cancelled', { error: CANCELLED });
    if (retryable) return retryOrFail(core, job, error.message, error);
    return finish(core, job, 'failed', { error });
  });
}

/** Cancel: a queued job ends at once; a running one is told (signal or lease reply) and ends when it stops. */
export function cancel(core: JobCore, id: string): Promise<JobRecord> {
  return core.withLock(id, async () => {
    const job = await core.o.store.get(id);
    if (!job) throw new JobNotFoundError();
    if (isTerminal(job.status)) throw new JobFinishedError();
    if (job.status === 'queued') {
      await finish(core, job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled before it started' } });
      return job;
    }
    if (!job.cancelRequested) {
      job.cancelRequested = true;
      job.cancelRequestedAt = Date.now();
      core.cancelling.set(id, job.cancelRequestedAt);
      job.message = 'Cancelling…';
      await core.commit(job, 'job.message');
      core.events.emit('cancel', id);
    }
    return job;
  });
}

/** The one terminal transition: its event, the record, out of the queue and the line; learn from a success. */
export async function finish(
  core: JobCore,
  job: JobRecord,
  status: 'succeeded' | 'failed' | 'cancelled',
  outcome: { error?: JobError },
): Promise<void> {
  await finishTaking(core, job, status, outcome, false);
}

/** {@link finish}, where a success's taker may also take the next job (see `complete`), returned. */
async function finishTaking(
  core: JobCore,
  job: JobRecord,
  status: 'succeeded' | 'failed' | 'cancelled',
  outcome: { error?: JobError },
  takeNext: boolean,
): Promise<NextTaken> {
  const now = Date.now();
  const token = job.lease?.token ?? null;
  if (job.stage) job.stageDurations.push({ name: job.stage.name, ms: now - job.stage.startedAt });
  job.status = status;
  job.finishedAt = now;
  job.lease = null;
  if (outcome.error) job.error = outcome.error;
  // A job that ended says so by its status and error: a message left from its run ("Retrying: ...")
  // would tell a failed job's reader it is still going. A cancel keeps its "Cancelling…".
  if (status !== 'cancelled') job.message = null;
  const queue = core.o.queue;
  const wantsNext = takeNext && status === 'succeeded' && token !== null;
  const leaseMs = core.leaseMsOf(job.type);
  // Out of the queue in the same step where the broker can (Redis on one server with Inloop's
  // queue: one call fewer per job), else by the queue after it.
  const told = await core.commit(
    job,
    status === 'succeeded' ? 'job.succeeded' : status === 'failed' ? 'job.failed' : 'job.cancelled',
    {},
    { endJob: { token, leaseMs, takeNext: wantsNext && !core.closed } },
  );
  let next: NextTaken;
  if (told.endedInQueue) {
    // A node closing meanwhile takes nothing more: a job taken for it waits out its lease.
    if (wantsNext && !core.closed && told.nextJob !== undefined)
      next = told.nextJob === null ? null : { id: told.nextJob, type: job.type, token: token! };
  } else if (wantsNext && queue.completeAndTake) next = await queue.completeAndTake(job, token!, leaseMs);
  else await queue.remove(job, token, status);
  core.cadence.stop(job.id);
  core.cancelling.delete(job.id);
  core.progressThrottle.forget(job.id);
  core.o.metrics.jobsFinished.inc({ type: job.type, status });
  core.line.ended(job, now);
  if (status === 'succeeded') await learnFromRun(core, job, now);
  core.events.emit('finished', job, told.streamsOpened);
  return next;
}
