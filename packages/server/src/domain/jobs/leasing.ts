import { isTerminal } from '@inloop/protocol';
import type { JobRecord } from '../../ports/job-store.js';
import type { JobOutcome, TakenJob } from '../../ports/job-queue.js';
import type { JobCore } from './core.js';
import { endLapsedLease } from './recovery.js';

/**
 * Lease up to `max` due jobs of `types` at once. Their transitions are issued together and
 * share one commit, instead of queueing behind one another one commit each.
 */
export async function leaseMany(
  core: JobCore,
  types: readonly string[],
  worker: string,
  max: number,
  leaseMs?: number,
): Promise<JobRecord[]> {
  const leased: JobRecord[] = [];
  const leaseFor = (type: string) => leaseMs ?? core.leaseMsOf(type);
  let lost = 0;
  // A candidate another leaser took in the meantime is skipped; look again a few times.
  for (let round = 0; leased.length < max && round < 3; round++) {
    // The embedded queue names the oldest due records, and a job another leaser just took reads
    // as due until its record is written: each look named the same lost candidates again, and a
    // worker gave up next to a line of due jobs (bench:eta: now and then a burst's first round
    // started on 3 of its 4 workers). So later looks ask past the ones lost, and lease them in
    // order until enough are held. A queue that hands each candidate to one taker needs none.
    const past = core.o.queue.holdsJobs ? 0 : lost;
    const asked = max - leased.length + past;
    const taken = await core.o.queue.take(types, asked, leaseFor);
    if (taken.length === 0) break;
    if (past === 0) {
      for (const job of await Promise.all(taken.map((t) => leaseOne(core, t, worker, leaseFor))))
        if (job) leased.push(job);
        else lost++;
      // Fewer than asked: the queue has no more due now, and asking again costs a call (on
      // BullMQ a script of a dozen commands) that finds nothing.
      if (taken.length < asked) break;
      continue;
    }
    for (const t of taken) {
      if (leased.length >= max) break;
      const job = await leaseOne(core, t, worker, leaseFor);
      if (job) leased.push(job);
      else lost++;
    }
  }
  return leased;
}

/** Lease a job the queue handed out with another's end (`complete`'s `takeNext`), or null. */
export function leaseTaken(core: JobCore, taken: TakenJob, worker: string): Promise<JobRecord | null> {
  return leaseOne(core, taken, worker, (type) => core.leaseMsOf(type));
}

/** Lease a job the queue handed out, after checking its record agrees that it is due. */
function leaseOne(
  core: JobCore,
  taken: TakenJob,
  worker: string,
  leaseFor: (type: string) => number,
): Promise<JobRecord | null> {
  return core.withLock(taken.id, async () => {
    // A job created here is leased from the record its creation stored, unread (see
    // `JobCore.commit`'s `hold`): the first run only, a run again after a refused step reads.
    const stored = core.takeCreated(taken.id) ?? (await core.o.store.get(taken.id));
    // The queue may give out a job whose holder stopped renewing before the stall was handled.
    const job = stored && (await endLapsedLease(core, stored));
    if (!job || isTerminal(job.status)) {
      await core.o.queue.remove(taken, taken.token, job ? (job.status as JobOutcome) : undefined);
      return null;
    }
    // Held under a valid lease (an embedded candidate someone else took first): not ours.
    if (job.status !== 'queued') return null;
    if (job.runAfter > Date.now()) {
      await core.o.queue.retry(job, taken.token, job.runAfter);
      return null;
    }
    const now = Date.now();
    const ms = leaseFor(job.type);
    // Taken on another node before its creator published `job.queued`: publish it first.
    if (job.epoch === '') await core.publish(job, 'job.queued');
    job.status = 'running';
    job.attempt++;
    job.startedAt = now;
    job.lastSignAt = now;
    // "Retrying: ..." was about the attempt before this one.
    job.message = null;
    job.fence++;
    job.lease = { token: taken.token, fence: job.fence, worker, expiresAt: now + ms };
    job.estimate = (await core.estimator.estimate(job.type, job.size)) ?? job.estimate;
    job.plan = core.types.get(job.type)?.stages ?? core.learnedPlans.get(job.type) ?? null;
    await core.commit(job, 'job.started');
    // After the step: a lease refused there (a copy that fell behind) runs again, and may find
    // the job cancelled or held elsewhere; the line then never saw it start.
    core.line.started(job, now);
    return job;
  });
}

/** Long-poll: lease the next job of `types`, waiting up to `waitMs` for one to become due. */
export async function waitForLease(
  core: JobCore,
  types: readonly string[],
  worker: string,
  waitMs: number,
  leaseMs?: number,
  signal?: AbortSignal,
): Promise<JobRecord | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    // A job added while this looks wakes no one yet: the mark makes the wait below see it.
    const seen = core.waiters.seen(types);
    const job = (await leaseMany(core, types, worker, 1, leaseMs))[0] ?? null;
    if (job || Date.now() >= deadline || signal?.aborted || core.closed) return job;
    await core.waiters.wait(types, deadline, signal, seen);
  }
}
