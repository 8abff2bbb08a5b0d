import { EventEmitter } from 'node:events';
import type { JobError, JobSnapshot, JobState, Json } from '@inloop/protocol';
import { jobTopic } from '@inloop/protocol';
import type { NextTaken, TakenJob } from '../../ports/job-queue.js';
import type { JobRecord } from '../../ports/job-store.js';
import { JobCore, type JobServiceEvents, type JobServiceOptions } from './core.js';
import { createJob, startJob, type CreateRequest, type StartedJob } from './creation.js';
import { exportCalibrations, typeInfo, type JobTypeInfo } from './estimates.js';
import type { Estimator } from './estimator.js';
import type { Cadence } from './cadence.js';
import type { JobLine } from './line.js';
import { leaseMany, leaseTaken, waitForLease } from './leasing.js';
import { recover, stalled, sweepOnce } from './recovery.js';
import { cancel, complete, fail, report } from './transitions.js';
import type { JobTypeOptions, Report } from './types.js';

export type { JobServiceOptions } from './core.js';
export type { CreateRequest, StartedJob } from './creation.js';
export type { JobTypeInfo } from './estimates.js';
export { MAX_PARTIALS } from './transitions.js';
export type { JobTypeOptions, Report } from './types.js';

/**
 * The lifecycle of jobs: creation, leases (for in-process handlers and remote workers alike),
 * reports, retries with backoff, cancellation, exactly one terminal event, recovery after a
 * restart. Every change to a job runs under that job's lock, publishes one event on the job's
 * topic carrying the job's full state, then saves the record; on restart the record is reconciled
 * from the topic if the process died between the two.
 *
 * This class is the front door; the work happens in rooms named for it, over one shared
 * {@link JobCore}: `creation.ts`, `leasing.ts`, `transitions.ts` (reports, completion, failure,
 * cancellation, the terminal event), `recovery.ts` (retries with backoff, lapsed leases, the
 * sweep, restart) and `estimates.ts` (learning from finished runs); `line.ts` is the wait in line.
 */
export class JobService extends EventEmitter<JobServiceEvents> {
  readonly #core: JobCore;
  readonly #sweep: NodeJS.Timeout;

  constructor(o: JobServiceOptions) {
    super();
    const core = (this.#core = new JobCore(o, this));
    o.queue.onAvailable((type) => core.wake(type));
    o.queue.onStalled((id) => void stalled(core, id));
    exportCalibrations(core);
    this.#sweep = setInterval(() => void sweepOnce(core), o.sweepMs ?? 250).unref();
  }

  get estimator(): Estimator {
    return this.#core.estimator;
  }

  get cadence(): Cadence {
    return this.#core.cadence;
  }

  /** The wait in line: queued and running jobs per type, places and expected starts. */
  get line(): JobLine {
    return this.#core.line;
  }

  // -- types ----------------------------------------------------------------------------------

  /** Declare a job type (remote workers serve it; `handle` also declares). */
  define(type: string, options: JobTypeOptions = {}): void {
    this.#core.types.set(type, {
      concurrency: options.concurrency ?? 4,
      maxAttempts: options.maxAttempts ?? 3,
      backoffMs: options.backoffMs ?? 1000,
      leaseMs: options.leaseMs ?? 30_000,
      expectedMs: options.expectedMs ?? 10_000,
      stages: options.stages ?? null,
    });
  }

  /** The declared types, in the order they were declared. */
  typeNames(): string[] {
    return [...this.#core.types.keys()];
  }

  typeOptions(type: string) {
    return this.#core.types.get(type);
  }

  /**
   * What a console charts about a type: its model, its line and its calibration; null if not
   * defined here, unless `elsewhere` (the cluster knows the type from another node).
   */
  typeInfo(type: string, elsewhere = false): Promise<JobTypeInfo | null> {
    return typeInfo(this.#core, type, elsewhere);
  }

  // -- creation and reads ---------------------------------------------------------------------

  create(request: CreateRequest): Promise<{ job: JobRecord; created: boolean; state: JobState }> {
    return createJob(this.#core, request);
  }

  /** Create a job (or find the one with the same idempotency key) and say what its creator sees. */
  start(request: CreateRequest): Promise<StartedJob> {
    return startJob(this.#core, request);
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.#core.o.store.get(id);
  }

  /** The wire state of a job now, with its place in line when it waits. */
  stateOf(job: JobRecord, now = Date.now()): JobState {
    return this.#core.stateOf(job, now);
  }

  /** The job's snapshot now: state, all partial results, and the position it reflects. */
  async snapshot(id: string): Promise<JobSnapshot | null> {
    const job = await this.#core.o.store.get(id);
    if (!job) return null;
    // Before its first event a job's record has no epoch yet: take the topic's, so a watcher can
    // resume from offset 0 and receive that first event too.
    const epoch = job.epoch || (await this.#core.o.broker.position(jobTopic(id))).epoch;
    return { ...this.#core.stateOf(job), partials: job.partials, epoch, offset: job.lastOffset };
  }

  // -- leases ---------------------------------------------------------------------------------

  /** Lease the next due job of one of `types`, or null. */
  async lease(types: readonly string[], worker: string, leaseMs?: number): Promise<JobRecord | null> {
    return (await leaseMany(this.#core, types, worker, 1, leaseMs))[0] ?? null;
  }

  /** Lease a job taken with another's end (`complete`'s `takeNext`); null when it is not due. */
  leaseTaken(taken: TakenJob, worker: string): Promise<JobRecord | null> {
    return leaseTaken(this.#core, taken, worker);
  }

  /** Lease up to `max` due jobs of `types` at once (one shared commit). */
  leaseMany(types: readonly string[], worker: string, max: number, leaseMs?: number): Promise<JobRecord[]> {
    return leaseMany(this.#core, types, worker, max, leaseMs);
  }

  /** Long-poll: lease the next job of `types`, waiting up to `waitMs` for one to become due. */
  waitForLease(
    types: readonly string[],
    worker: string,
    waitMs: number,
    leaseMs?: number,
    signal?: AbortSignal,
  ): Promise<JobRecord | null> {
    return waitForLease(this.#core, types, worker, waitMs, leaseMs, signal);
  }

  // -- transitions ----------------------------------------------------------------------------

  /** A worker's report under its lease: renews the lease and publishes what changed. */
  report(
    id: string,
    token: string,
    update: Report,
  ): Promise<{ cancelRequested: boolean; leaseExpiresAt: number; fence: number }> {
    return report(this.#core, id, token, update);
  }

  /**
   * The worker's result. `held`: the record as this node leased it, unchanged since (no report
   * made under the lease), which spares a read on Redis (see `JobCore.leased`). `takeNext`: the
   * same worker takes the type's next due job in the same step where the queue can (BullMQ):
   * resolves to it, to be leased with {@link leaseTaken}, or says why not ({@link NextTaken}).
   */
  complete(id: string, token: string, result: Json, held?: JobRecord, takeNext = false): Promise<NextTaken> {
    return complete(this.#core, id, token, result, held, takeNext);
  }

  /** The worker failed. Retried with backoff while attempts remain, unless `retryable` is false. */
  fail(id: string, token: string, error: JobError, retryable = true): Promise<void> {
    return fail(this.#core, id, token, error, retryable);
  }

  /** Cancel: a queued job ends at once; a running one is told (signal or lease reply) and ends when it stops. */
  cancel(id: string): Promise<JobRecord> {
    return cancel(this.#core, id);
  }

  // -- recovery -------------------------------------------------------------------------------

  /** After a restart: reconcile records with their topics and retry this process's jobs (see recovery.ts). */
  recover(localWorkerPrefix: string | null): Promise<void> {
    return recover(this.#core, localWorkerPrefix);
  }

  async close(): Promise<void> {
    const core = this.#core;
    core.closed = true;
    clearInterval(this.#sweep);
    core.cadence.close();
    core.progressThrottle.close();
    core.waiters.wakeAll();
    await core.locks.idle();
  }
}
