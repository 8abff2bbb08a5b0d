import { isTerminal, jobTopic, type JobError, type JobEvent } from '@inloop/protocol';
import type { JobRecord } from '../../ports/job-store.js';
import type { JobCore } from './core.js';
import { finish } from './transitions.js';

/** Retries back off from the type's `backoffMs`, doubling per attempt, capped here. */
const MAX_BACKOFF_MS = 60_000;

/** The delay before attempt `attempt + 1`: doubling from `baseMs`, capped, jittered by +-20 %. */
export function backoffMs(baseMs: number, attempt: number, random = Math.random): number {
  return Math.round(Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1)) * (0.8 + random() * 0.4));
}

/** Hand a failed attempt back to the line after its backoff, or fail the job when out of attempts. */
export async function retryOrFail(core: JobCore, job: JobRecord, reason: string, error: JobError): Promise<void> {
  if (job.cancelRequested)
    return finish(core, job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
  if (job.attempt >= job.maxAttempts) return finish(core, job, 'failed', { error });
  const inMs = backoffMs(core.types.get(job.type)?.backoffMs ?? 1000, job.attempt);
  const token = job.lease?.token ?? null;
  job.status = 'queued';
  job.runAfter = Date.now() + inMs;
  job.lease = null;
  job.stage = null;
  job.stageWeightDone = 0;
  job.stageDurations = [];
  job.measured = null;
  job.message = `Retrying: ${reason}`;
  core.line.queued(job);
  await core.commit(job, 'job.retrying', { retry: { reason, inMs } });
  await core.o.queue.retry(job, token, job.runAfter);
}

/** One pass of the background sweep: stalled leases, due work, cancels past their grace. */
export async function sweepOnce(core: JobCore): Promise<void> {
  if (core.closed) return;
  try {
    const now = Date.now();
    const { available, stalled: lapsed } = await core.o.queue.sweep([...core.types.keys()], now, (type) =>
      core.leaseMsOf(type),
    );
    for (const id of lapsed) await stalled(core, id);
    for (const type of available) core.wake(type);
    for (const [id, at] of core.cancelling) {
      if (now - at <= core.cancelGraceMs) continue;
      await core.withLock(id, async () => {
        const job = await core.o.store.get(id);
        if (job?.status === 'running')
          await finish(core, job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
        else core.cancelling.delete(id);
      });
    }
  } catch (err) {
    core.o.logger.error({ err }, 'job sweep failed');
  }
}

/** The queue found the job's holder silent past its lease: retry it, or fail it when out of attempts. */
export function stalled(core: JobCore, id: string): Promise<void> {
  return core
    .withLock(id, async () => {
      const stored = await core.o.store.get(id);
      if (stored) await endLapsedLease(core, stored);
    })
    .catch((err: unknown) => core.o.logger.error({ err, job: id }, 'handling a stalled job failed'));
}

/**
 * A running job whose lease lapsed is retried, or failed when out of attempts (after taking
 * up whatever its topic already says). Any other job is returned as it is. Under the job's lock.
 */
export async function endLapsedLease(core: JobCore, stored: JobRecord): Promise<JobRecord> {
  if (stored.status !== 'running' || !stored.lease || stored.lease.expiresAt >= Date.now()) return stored;
  const job = await reconcile(core, stored);
  if (job.status !== 'running') return job;
  core.o.logger.warn({ job: job.id, worker: job.lease?.worker }, 'lease expired');
  await retryOrFail(core, job, 'the worker stopped responding', {
    code: 'lease_expired',
    message: 'The worker stopped responding',
  });
  return job;
}

/**
 * Bring a record up to its topic: an event can be stored without its record update when a
 * process dies between the two. A terminal event on the topic wins over the record.
 */
async function reconcile(core: JobCore, job: JobRecord): Promise<JobRecord> {
  const page = await core.o.broker.history(jobTopic(job.id), job.lastOffset, 1000);
  const last = page.publications.at(-1);
  if (!last || page.epoch !== job.epoch) return job;
  const state = (last.data as unknown as JobEvent).job;
  job.lastOffset = last.offset;
  // Awaited: the job's next step (a retry, say) is fenced at the position saved here, and a step
  // may be written before calls made earlier that have not gone out yet (Redis, `job-events.ts`).
  const terminal = isTerminal(state.status);
  if (terminal) {
    Object.assign(job, { status: state.status, finishedAt: state.finishedAt, lease: null });
    if (state.result !== undefined) job.result = state.result;
    if (state.error !== undefined) job.error = state.error;
  }
  await core.o.store.save(job);
  if (terminal) await core.o.queue.remove(job, null);
  return job;
}

/**
 * After a restart: reconcile records with their topics, retry jobs that were running in this
 * process (`localWorkerPrefix`; null in a cluster, where the queue notices a dead node's jobs
 * by their expired locks), and restart the cadence. Jobs leased by remote workers keep their
 * leases: a worker that is still alive carries on.
 */
export async function recover(core: JobCore, localWorkerPrefix: string | null): Promise<void> {
  for (const stale of await core.o.store.unfinished()) {
    await core.withLock(stale.id, async () => {
      const stored = await core.o.store.get(stale.id);
      if (!stored || isTerminal(stored.status)) return;
      const job = await reconcile(core, stored);
      if (isTerminal(job.status)) return;
      // Before anything hands it back (`retryOrFail` below), the queue holds it as the store says.
      await core.o.queue.adopt?.(job);
      if (job.status === 'queued') core.line.queued(job);
      else core.line.started(job);
      if (localWorkerPrefix !== null && job.status === 'running' && job.lease?.worker.startsWith(localWorkerPrefix)) {
        await retryOrFail(core, job, 'the node restarted', { code: 'node_restarted', message: 'The node restarted' });
      } else {
        core.cadence.touch(job.id);
        if (job.cancelRequested) core.cancelling.set(job.id, job.cancelRequestedAt ?? Date.now());
      }
    });
  }
}
