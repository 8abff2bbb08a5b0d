import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  isTerminal,
  jobTopic,
  type JobError,
  type JobEvent,
  type JobEventType,
  type JobSnapshot,
  type Json,
} from '@inloop/protocol';
import type { Broker } from '../../ports/broker.js';
import type { JobRecord, JobStore, Lease, PlannedStage, SizeHint } from '../../ports/job-store.js';
import type { JobLocks, JobOutcome, JobQueue, TakenJob } from '../../ports/job-queue.js';
import type { Metrics } from '../../metrics.js';
import type { Hub } from '../hub.js';
import { KeyedLock } from '../../util/keyed-lock.js';
import { KeyedThrottle } from '../../util/keyed-throttle.js';
import { Cadence } from './cadence.js';
import { newJobId } from './ids.js';
import { LeaseWaiters } from './waiters.js';
import type { JobTypeOptions, Report } from './types.js';
import { JobFinishedError, JobNotFoundError, LeaseLostError, UnknownJobTypeError } from './errors.js';
import { Estimator } from './estimator.js';
import { stateOf } from './progress.js';

export interface JobServiceOptions {
  store: JobStore;
  /** Which job runs next and who holds it: the store itself embedded, BullMQ in a cluster. */
  queue: JobQueue;
  /** Mutual exclusion per job across every node that may change it. @default in-process */
  locks?: JobLocks;
  hub: Hub;
  broker: Broker;
  metrics: Metrics;
  logger: Logger;
  /** Longest silence a watcher of a live job sees. @default 5000 */
  cadenceMs: number;
  /** No sign of life for this long (and well past p90) is "likely stuck". @default 30_000 */
  stuckAfterMs?: number;
  /** A running job whose worker ignores a cancel is ended this long after the request. @default 10_000 */
  cancelGraceMs?: number;
  /** How often leases and retries are checked. @default 250 */
  sweepMs?: number;
  /**
   * Bytes of partial results (their JSON) a job keeps in its snapshot, besides at most 1,000 of
   * them; a partial past either bound is dropped (neither kept nor published), so a snapshot,
   * and the stream that starts with it, stays bounded. @default 262_144
   */
  maxPartialsBytes?: number;
}

/** Partial results a job keeps at most (see {@link JobServiceOptions.maxPartialsBytes}). */
export const MAX_PARTIALS = 1000;
const PROGRESS_EVENT_MS = 100;

/**
 * The lifecycle of jobs: creation, leases (for in-process handlers and remote workers alike),
 * reports, retries with backoff, cancellation, exactly one terminal event, recovery after a
 * restart. Every change to a job runs under that job's lock, publishes one event on the job's
 * topic carrying the job's full state, then saves the record; on restart the record is reconciled
 * from the topic if the process died between the two.
 */
export type { JobTypeOptions, Report } from './types.js';

export class JobService extends EventEmitter<{
  available: [type: string];
  cancel: [id: string];
  finished: [job: JobRecord];
}> {
  readonly estimator: Estimator;
  readonly cadence: Cadence;
  readonly #types = new Map<string, Required<Omit<JobTypeOptions, 'stages'>> & { stages: PlannedStage[] | null }>();
  readonly #locks: JobLocks;
  readonly #waiters = new LeaseWaiters();
  /** Stored progress events: at most 10 per second per job, the last report never dropped. */
  readonly #progressThrottle = new KeyedThrottle(PROGRESS_EVENT_MS);
  /** Running jobs asked to cancel, with when: ended by force after the grace period. */
  readonly #cancelling = new Map<string, number>();
  /** Stage plans learned from the last successful run of each type that declared none. */
  readonly #learnedPlans = new Map<string, PlannedStage[]>();
  readonly #sweep: NodeJS.Timeout;
  readonly #stuckAfterMs: number;
  readonly #cancelGraceMs: number;
  #closed = false;

  constructor(private readonly o: JobServiceOptions) {
    super();
    this.#stuckAfterMs = o.stuckAfterMs ?? 30_000;
    this.#cancelGraceMs = o.cancelGraceMs ?? 10_000;
    this.#locks = o.locks ?? new KeyedLock();
    o.queue.onAvailable((type) => this.#wake(type));
    o.queue.onStalled((id) => void this.#stalled(id));
    this.estimator = new Estimator(o.store, { defaultMs: (type) => this.#types.get(type)?.expectedMs ?? 10_000 });
    this.cadence = new Cadence({
      cadenceMs: o.cadenceMs,
      hasWatchers: (id) => o.hub.subscriberCount(jobTopic(id)) > 0,
      tick: (id) => this.#tick(id),
    });
    this.#sweep = setInterval(() => void this.#sweepOnce(), o.sweepMs ?? 250).unref();
  }

  // -- types ----------------------------------------------------------------------------------

  /** Declare a job type (remote workers serve it; `handle` also declares). */
  define(type: string, options: JobTypeOptions = {}): void {
    this.#types.set(type, {
      concurrency: options.concurrency ?? 4,
      maxAttempts: options.maxAttempts ?? 3,
      backoffMs: options.backoffMs ?? 1000,
      leaseMs: options.leaseMs ?? 30_000,
      expectedMs: options.expectedMs ?? 10_000,
      stages: options.stages ?? null,
    });
  }

  typeOptions(type: string) {
    return this.#types.get(type);
  }

  // -- creation and reads ---------------------------------------------------------------------

  async create(request: {
    type: string;
    input: Json;
    size: SizeHint | null;
    idempotencyKey: string | null;
    createdBy: string;
  }): Promise<{
    job: JobRecord;
    created: boolean;
  }> {
    const options = this.#types.get(request.type);
    if (!options) throw new UnknownJobTypeError(request.type);
    const now = Date.now();
    const estimate = (await this.estimator.estimate(request.type, request.size))!;
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
    const inserted = await this.o.store.insert(job);
    if (!inserted.created) return inserted;
    this.o.metrics.jobsCreated.inc({ type: job.type });
    if (this.o.queue.holdsJobs) {
      // No one can take the job before it is queued: its first event and the record that
      // reflects it go first, without a lock; then the queue (the job is durable either way).
      await this.#publish(job, 'job.queued');
      await this.o.store.save(job);
      await this.o.queue.add(job);
      this.#wake(job.type);
      return { job, created: true };
    }
    // The job is durable once inserted: answer now. Its `job.queued` event follows under the
    // job's lock; whoever leases it first publishes that event if it is still missing, so every
    // later change comes after it on the topic.
    void this.#withLock(job.id, async () => {
      const fresh = await this.o.store.get(job.id);
      if (fresh?.epoch !== '') return;
      await this.#publish(fresh, 'job.queued');
      this.#save(fresh);
    })
      .then(() => this.#wake(job.type))
      .catch((err: unknown) => this.o.logger.error({ err, job: job.id }, 'publishing job.queued failed'));
    return { job, created: true };
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.o.store.get(id);
  }

  /** The job's snapshot now: state, all partial results, and the position it reflects. */
  async snapshot(id: string): Promise<JobSnapshot | null> {
    const job = await this.o.store.get(id);
    if (!job) return null;
    // Before its first event a job's record has no epoch yet: take the topic's, so a watcher can
    // resume from offset 0 and receive that first event too.
    const epoch = job.epoch || (await this.o.broker.position(jobTopic(id))).epoch;
    return {
      ...stateOf(job, Date.now(), this.#stuckAfterMs),
      partials: job.partials,
      epoch,
      offset: job.lastOffset,
    };
  }

  // -- leases ---------------------------------------------------------------------------------

  /** Lease the next due job of one of `types`, or null. */
  async lease(types: readonly string[], worker: string, leaseMs?: number): Promise<JobRecord | null> {
    return (await this.leaseMany(types, worker, 1, leaseMs))[0] ?? null;
  }

  /**
   * Lease up to `max` due jobs of `types` at once. Their transitions are issued together and
   * share one commit, instead of queueing behind one another one commit each.
   */
  async leaseMany(types: readonly string[], worker: string, max: number, leaseMs?: number): Promise<JobRecord[]> {
    const leased: JobRecord[] = [];
    const leaseFor = (type: string) => leaseMs ?? this.#types.get(type)?.leaseMs ?? 30_000;
    // A candidate another leaser took in the meantime is skipped; look again a few times.
    for (let round = 0; leased.length < max && round < 3; round++) {
      const taken = await this.o.queue.take(types, max - leased.length, leaseFor);
      if (taken.length === 0) break;
      for (const job of await Promise.all(taken.map((t) => this.#leaseOne(t, worker, leaseFor))))
        if (job) leased.push(job);
    }
    return leased;
  }

  /** Lease a job the queue handed out, after checking its record agrees that it is due. */
  #leaseOne(taken: TakenJob, worker: string, leaseFor: (type: string) => number): Promise<JobRecord | null> {
    return this.#withLock(taken.id, async () => {
      const stored = await this.o.store.get(taken.id);
      // The queue may give out a job whose holder stopped renewing before the stall was handled.
      const job = stored && (await this.#endLapsedLease(stored));
      if (!job || isTerminal(job.status)) {
        await this.o.queue.remove(taken, taken.token, job ? (job.status as JobOutcome) : undefined);
        return null;
      }
      // Held under a valid lease (an embedded candidate someone else took first): not ours.
      if (job.status !== 'queued') return null;
      if (job.runAfter > Date.now()) {
        await this.o.queue.retry(job, taken.token, job.runAfter);
        return null;
      }
      const now = Date.now();
      const ms = leaseFor(job.type);
      // Taken on another node before its creator published `job.queued`: publish it first.
      if (job.epoch === '') await this.#publish(job, 'job.queued');
      job.status = 'running';
      job.attempt++;
      job.startedAt = now;
      job.lastSignAt = now;
      job.fence++;
      job.lease = { token: taken.token, fence: job.fence, worker, expiresAt: now + ms };
      job.estimate = (await this.estimator.estimate(job.type, job.size)) ?? job.estimate;
      job.plan = this.#types.get(job.type)?.stages ?? this.#learnedPlans.get(job.type) ?? null;
      await this.#publish(job, 'job.started');
      this.#save(job);
      return job;
    });
  }

  /** Long-poll: lease the next job of `types`, waiting up to `waitMs` for one to become due. */
  async waitForLease(
    types: readonly string[],
    worker: string,
    waitMs: number,
    leaseMs?: number,
    signal?: AbortSignal,
  ): Promise<JobRecord | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const job = await this.lease(types, worker, leaseMs);
      if (job || Date.now() >= deadline || signal?.aborted || this.#closed) return job;
      await this.#waiters.wait(types, deadline, signal);
    }
  }

  #wake(type: string): void {
    this.emit('available', type);
    this.#waiters.wake(type);
  }

  /** Run `fn` on the job under a valid lease; throws LeaseLostError otherwise. */
  #leased<T>(id: string, token: string, fn: (job: JobRecord, lease: Lease) => Promise<T>): Promise<T> {
    return this.#withLock(id, async () => {
      const job = await this.o.store.get(id);
      if (!job) throw new JobNotFoundError();
      const lease = job.lease;
      if (job.status !== 'running' || !lease || lease.token !== token || lease.expiresAt < Date.now())
        throw new LeaseLostError();
      return fn(job, lease);
    });
  }

  /** A worker's report under its lease: renews the lease and publishes what changed. */
  report(
    id: string,
    token: string,
    report: Report,
  ): Promise<{ cancelRequested: boolean; leaseExpiresAt: number; fence: number }> {
    return this.#leased(id, token, async (job, lease) => {
      const now = Date.now();
      const leaseMs = this.#types.get(job.type)?.leaseMs ?? 30_000;
      // Renew the queue's lock once a quarter of the lease is used, not on every report.
      if (lease.expiresAt - now < (leaseMs * 3) / 4) {
        if (!(await this.o.queue.renew(job, token, leaseMs))) throw new LeaseLostError();
        lease.expiresAt = now + leaseMs;
      }
      if (report.sign) job.lastSignAt = now;
      if (report.stage) await this.#enterStage(job, report.stage, now);
      if (report.message !== undefined && report.message !== job.message) {
        job.message = report.message.slice(0, 500);
        await this.#publish(job, 'job.message');
      }
      if (report.partial !== undefined && this.#partialFits(job, report.partial)) {
        job.partials.push(report.partial);
        await this.#publish(job, 'job.partial', { partial: report.partial });
      }
      if (report.progress !== undefined) {
        job.measured = Math.min(1, Math.max(0, report.progress));
        await this.#progressEvent(job, now);
      }
      this.#save(job);
      return { cancelRequested: job.cancelRequested, leaseExpiresAt: lease.expiresAt, fence: lease.fence };
    });
  }

  /** Whether `partial` may join the job's kept partials: within 1,000 and `maxPartialsBytes`. */
  #partialFits(job: JobRecord, partial: Json): boolean {
    if (job.partials.length >= MAX_PARTIALS) return false;
    const bytes = JSON.stringify(job.partials).length + JSON.stringify(partial).length;
    return bytes <= (this.o.maxPartialsBytes ?? 262_144);
  }

  async #enterStage(job: JobRecord, stage: { name: string; weight?: number }, now: number): Promise<void> {
    if (job.stage?.name === stage.name) return;
    if (job.stage) {
      job.stageWeightDone += job.stage.weight;
      job.stageDurations.push({ name: job.stage.name, ms: now - job.stage.startedAt });
    }
    const planned = job.plan?.find((s) => s.name === stage.name);
    // A stage the plan does not know means the plan is wrong for this run: estimate without it.
    if (job.plan && !planned) job.plan = null;
    const estimate = await this.estimator.estimate(job.type, job.size, stage.name);
    job.stage = {
      name: stage.name,
      index: job.stage ? job.stage.index + 1 : 0,
      weight: planned?.weight ?? stage.weight ?? 1,
      startedAt: now,
      p50Ms: estimate?.p50Ms ?? null,
    };
    // Within a plan a fraction is the stage's; without one it is the job's and holds across stages.
    if (job.plan) job.measured = null;
    await this.#publish(job, 'job.stage');
  }

  async #progressEvent(job: JobRecord, now: number): Promise<void> {
    if (this.#progressThrottle.take(job.id, now, () => this.#trailingProgress(job.id)))
      await this.#publish(job, 'job.progress');
  }

  #trailingProgress(id: string): void {
    void this.#withLock(id, async () => {
      const fresh = await this.o.store.get(id);
      if (!fresh || fresh.status !== 'running') return;
      await this.#publish(fresh, 'job.progress');
      this.#save(fresh);
    }).catch((err: unknown) => this.o.logger.error({ err, job: id }, 'progress event failed'));
  }

  complete(id: string, token: string, result: Json): Promise<void> {
    return this.#leased(id, token, async (job) => {
      if (job.cancelRequested)
        return this.#finish(job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
      job.result = result;
      return this.#finish(job, 'succeeded', {});
    });
  }

  /** The worker failed. Retried with backoff while attempts remain, unless `retryable` is false. */
  fail(id: string, token: string, error: JobError, retryable = true): Promise<void> {
    return this.#leased(id, token, async (job) => {
      if (job.cancelRequested)
        return this.#finish(job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
      if (retryable) return this.#retryOrFail(job, error.message, error);
      return this.#finish(job, 'failed', { error });
    });
  }

  // -- cancellation ---------------------------------------------------------------------------

  /** Cancel: a queued job ends at once; a running one is told (signal or lease reply) and ends when it stops. */
  cancel(id: string): Promise<JobRecord> {
    return this.#withLock(id, async () => {
      const job = await this.o.store.get(id);
      if (!job) throw new JobNotFoundError();
      if (isTerminal(job.status)) throw new JobFinishedError();
      if (job.status === 'queued') {
        await this.#finish(job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled before it started' } });
        return job;
      }
      if (!job.cancelRequested) {
        job.cancelRequested = true;
        job.cancelRequestedAt = Date.now();
        this.#cancelling.set(id, job.cancelRequestedAt);
        job.message = 'Cancelling…';
        await this.#publish(job, 'job.message');
        this.#save(job);
        this.emit('cancel', id);
      }
      return job;
    });
  }

  // -- transitions ----------------------------------------------------------------------------

  async #retryOrFail(job: JobRecord, reason: string, error: JobError): Promise<void> {
    if (job.cancelRequested)
      return this.#finish(job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
    if (job.attempt >= job.maxAttempts) return this.#finish(job, 'failed', { error });
    const base = this.#types.get(job.type)?.backoffMs ?? 1000;
    const inMs = Math.round(Math.min(60_000, base * 2 ** (job.attempt - 1)) * (0.8 + Math.random() * 0.4));
    const token = job.lease?.token ?? null;
    job.status = 'queued';
    job.runAfter = Date.now() + inMs;
    job.lease = null;
    job.stage = null;
    job.stageWeightDone = 0;
    job.stageDurations = [];
    job.measured = null;
    job.message = `Retrying: ${reason}`;
    await this.#publish(job, 'job.retrying', { retry: { reason, inMs } });
    this.#save(job);
    await this.o.queue.retry(job, token, job.runAfter);
  }

  async #finish(
    job: JobRecord,
    status: 'succeeded' | 'failed' | 'cancelled',
    outcome: { error?: JobError },
  ): Promise<void> {
    const now = Date.now();
    const token = job.lease?.token ?? null;
    if (job.stage) job.stageDurations.push({ name: job.stage.name, ms: now - job.stage.startedAt });
    job.status = status;
    job.finishedAt = now;
    job.lease = null;
    if (outcome.error) job.error = outcome.error;
    if (status === 'succeeded') job.message = null;
    await this.#publish(
      job,
      status === 'succeeded' ? 'job.succeeded' : status === 'failed' ? 'job.failed' : 'job.cancelled',
    );
    this.#save(job);
    await this.o.queue.remove(job, token, status);
    this.cadence.stop(job.id);
    this.#cancelling.delete(job.id);
    this.#progressThrottle.forget(job.id);
    this.o.metrics.jobsFinished.inc({ type: job.type, status });
    if (status === 'succeeded' && job.startedAt !== null) {
      const size = job.size?.value ?? null;
      await this.estimator.record({ type: job.type, stage: '', ms: now - job.startedAt, size, at: now });
      for (const s of job.stageDurations)
        await this.estimator.record({ type: job.type, stage: s.name, ms: s.ms, size, at: now });
      if (!this.#types.get(job.type)?.stages && job.stageDurations.length > 0) {
        this.#learnedPlans.set(
          job.type,
          job.stageDurations.map((s) => ({ name: s.name, weight: Math.max(1, s.ms) })),
        );
      }
    }
    this.emit('finished', job);
  }

  /** Publish one stored event carrying the job's state, and move the record's position to it. */
  async #publish(job: JobRecord, type: JobEventType, extra: Omit<JobEvent, 'type' | 'job'> = {}): Promise<void> {
    const event: JobEvent = { type, job: stateOf(job, Date.now(), this.#stuckAfterMs), ...extra };
    const outcome = await this.o.hub.publish(jobTopic(job.id), { data: event as unknown as Json, from: 'inloop' });
    if (!outcome.ephemeral) {
      job.epoch = outcome.epoch;
      job.lastOffset = outcome.offset;
    }
    if (!isTerminal(job.status)) this.cadence.touch(job.id);
  }

  /** The cadence guarantee: an ephemeral tick with elapsed time, refreshed ETA and estimated progress. */
  async #tick(id: string): Promise<boolean> {
    const job = await this.o.store.get(id);
    if (!job || isTerminal(job.status)) return false;
    const event: JobEvent = { type: 'job.tick', job: stateOf(job, Date.now(), this.#stuckAfterMs) };
    await this.o.hub.publish(jobTopic(id), { data: event as unknown as Json, from: 'inloop', ephemeral: true });
    return true;
  }

  /**
   * Save the record without waiting for its commit. The event just published is the durable
   * truth (its commit is awaited, and nothing is acknowledged before it); the record follows it
   * in the same connection's commit order, and a record update lost to a crash is reconciled
   * from the topic on restart (`recover`). Reads on this connection see it at once.
   */
  #save(job: JobRecord): void {
    this.o.store.save(job).catch((err: unknown) => this.o.logger.error({ err, job: job.id }, 'saving a job failed'));
  }

  #withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(id, fn);
  }

  // -- background -----------------------------------------------------------------------------

  async #sweepOnce(): Promise<void> {
    if (this.#closed) return;
    try {
      const now = Date.now();
      const leaseMs = (type: string) => this.#types.get(type)?.leaseMs ?? 30_000;
      const { available, stalled } = await this.o.queue.sweep([...this.#types.keys()], now, leaseMs);
      for (const id of stalled) await this.#stalled(id);
      for (const type of available) this.#wake(type);
      for (const [id, at] of this.#cancelling) {
        if (now - at <= this.#cancelGraceMs) continue;
        await this.#withLock(id, async () => {
          const job = await this.o.store.get(id);
          if (job?.status === 'running')
            await this.#finish(job, 'cancelled', { error: { code: 'cancelled', message: 'Cancelled' } });
          else this.#cancelling.delete(id);
        });
      }
    } catch (err) {
      this.o.logger.error({ err }, 'job sweep failed');
    }
  }

  /** The queue found the job's holder silent past its lease: retry it, or fail it when out of attempts. */
  #stalled(id: string): Promise<void> {
    return this.#withLock(id, async () => {
      const stored = await this.o.store.get(id);
      if (stored) await this.#endLapsedLease(stored);
    }).catch((err: unknown) => this.o.logger.error({ err, job: id }, 'handling a stalled job failed'));
  }

  /**
   * A running job whose lease lapsed is retried, or failed when out of attempts (after taking
   * up whatever its topic already says). Any other job is returned as it is. Under the job's lock.
   */
  async #endLapsedLease(stored: JobRecord): Promise<JobRecord> {
    if (stored.status !== 'running' || !stored.lease || stored.lease.expiresAt >= Date.now()) return stored;
    const job = await this.#reconcile(stored);
    if (job.status !== 'running') return job;
    this.o.logger.warn({ job: job.id, worker: job.lease?.worker }, 'lease expired');
    await this.#retryOrFail(job, 'the worker stopped responding', {
      code: 'lease_expired',
      message: 'The worker stopped responding',
    });
    return job;
  }

  /**
   * Bring a record up to its topic: an event can be stored without its record update when a
   * process dies between the two. A terminal event on the topic wins over the record.
   */
  async #reconcile(job: JobRecord): Promise<JobRecord> {
    const page = await this.o.broker.history(jobTopic(job.id), job.lastOffset, 1000);
    const last = page.publications.at(-1);
    if (!last || page.epoch !== job.epoch) return job;
    const state = (last.data as unknown as JobEvent).job;
    job.lastOffset = last.offset;
    this.#save(job);
    if (isTerminal(state.status)) {
      Object.assign(job, { status: state.status, finishedAt: state.finishedAt, lease: null });
      if (state.result !== undefined) job.result = state.result;
      if (state.error !== undefined) job.error = state.error;
      this.#save(job);
      await this.o.queue.remove(job, null);
    }
    return job;
  }

  /**
   * After a restart: reconcile records with their topics, retry jobs that were running in this
   * process (`localWorkerPrefix`; null in a cluster, where the queue notices a dead node's jobs
   * by their expired locks), and restart the cadence. Jobs leased by remote workers keep their
   * leases: a worker that is still alive carries on.
   */
  async recover(localWorkerPrefix: string | null): Promise<void> {
    for (const stale of await this.o.store.unfinished()) {
      await this.#withLock(stale.id, async () => {
        const stored = await this.o.store.get(stale.id);
        if (!stored || isTerminal(stored.status)) return;
        const job = await this.#reconcile(stored);
        if (isTerminal(job.status)) return;
        if (localWorkerPrefix !== null && job.status === 'running' && job.lease?.worker.startsWith(localWorkerPrefix)) {
          await this.#retryOrFail(job, 'the node restarted', { code: 'node_restarted', message: 'The node restarted' });
        } else {
          this.cadence.touch(job.id);
          if (job.cancelRequested) this.#cancelling.set(job.id, job.cancelRequestedAt ?? Date.now());
        }
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.cadence.close();
    this.#progressThrottle.close();
    this.#waiters.wakeAll();
    await this.#locks.idle();
  }
}
