import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  isTerminal,
  JOB_TOPIC_PREFIX,
  jobTopic,
  type JobEvent,
  type JobEventType,
  type JobState,
  type Json,
} from '@inloop/protocol';
import type { AppendInput, AppendResult, Broker } from '../../ports/broker.js';
import type { JobRecord, JobStore, Lease, PlannedStage } from '../../ports/job-store.js';
import type { JobLocks, JobQueue } from '../../ports/job-queue.js';
import type { Metrics } from '../../metrics.js';
import type { Hub } from '../hub.js';
import { KeyedLock } from '../../util/keyed-lock.js';
import { KeyedThrottle } from '../../util/keyed-throttle.js';
import { Cadence } from './cadence.js';
import { JobNotFoundError, LeaseLostError } from './errors.js';
import { Estimator } from './estimator.js';
import { JobLine } from './line.js';
import { stateOf } from './progress.js';
import type { JobTypeOptions } from './types.js';
import { LeaseWaiters } from './waiters.js';

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
  /** Other nodes share the store (a cluster): what they learn is read back from it. */
  shared?: boolean;
  /**
   * Bytes of partial results (their JSON) a job keeps in its snapshot, besides at most 1,000 of
   * them; a partial past either bound is dropped (neither kept nor published), so a snapshot,
   * and the stream that starts with it, stays bounded. @default 262_144
   */
  maxPartialsBytes?: number;
  /**
   * Mint the read token a job's creator gets for that job alone (watch, read, cancel). Without
   * it, `JobService.start` answers without a token.
   */
  readToken?: (createdBy: string, jobId: string) => Promise<{ token: string; expiresAt: number }>;
}

/** What the service tells whoever listens (the in-process runner, benches, tests). */
export type JobServiceEvents = {
  available: [type: string];
  cancel: [id: string];
  /** `streamsOpened`: false when the job is known to have opened no stream (see `AppendResult`). */
  finished: [job: JobRecord, streamsOpened?: boolean];
};

/** Whether `job` is running under the unexpired lease `token`. */
function holdsLease(job: JobRecord, token: string): boolean {
  const lease = job.lease;
  return job.status === 'running' && lease !== null && lease.token === token && lease.expiresAt >= Date.now();
}

/** What a job's step told besides its publication (see `AppendResult`). */
export type Told = Omit<AppendResult, 'publication' | 'duplicate'>;

/** A declared type with its defaults applied. */
export type JobType = Required<Omit<JobTypeOptions, 'stages'>> & { stages: PlannedStage[] | null };

const PROGRESS_EVENT_MS = 100;
/**
 * Records created here are kept for their lease (`JobCore.commit`'s `hold`) within these
 * bounds. A job leased on another node is never taken back here: it is dropped once this old. A
 * full store keeps its oldest (the queue hands them out first) and holds no more: its lines'
 * newest are then read, as without it.
 */
const CREATED_HELD_MS = 30_000;
const CREATED_HELD_CHARS = 8_000_000;
/** On a cluster, a type's runs recorded by other nodes are read back at most this late. */
const SHARED_RUNS_REFRESH_MS = 2000;

/**
 * What the rooms of the jobs domain share (creation, leasing, transitions, recovery, estimates):
 * the ports, the declared types, and the one way to change a job: under its lock, publish one
 * event carrying its full state, then save the record.
 */
export class JobCore {
  readonly types = new Map<string, JobType>();
  readonly locks: JobLocks;
  readonly waiters = new LeaseWaiters();
  /** Stored progress events: at most 10 per second per job, the last report never dropped. */
  readonly progressThrottle = new KeyedThrottle(PROGRESS_EVENT_MS);
  /** Running jobs asked to cancel, with when: ended by force after the grace period. */
  readonly cancelling = new Map<string, number>();
  /** Stage plans learned from the last successful run of each type that declared none. */
  readonly learnedPlans = new Map<string, PlannedStage[]>();
  readonly estimator: Estimator;
  readonly cadence: Cadence;
  /** The wait in line: queued and running jobs per type, places and expected starts. */
  readonly line = new JobLine();
  readonly stuckAfterMs: number;
  readonly cancelGraceMs: number;
  closed = false;

  constructor(
    readonly o: JobServiceOptions,
    readonly events: EventEmitter<JobServiceEvents>,
  ) {
    this.stuckAfterMs = o.stuckAfterMs ?? 30_000;
    this.cancelGraceMs = o.cancelGraceMs ?? 10_000;
    this.locks = o.locks ?? new KeyedLock();
    this.estimator = new Estimator(o.store, {
      defaultMs: (type) => this.types.get(type)?.expectedMs ?? 10_000,
      ...(o.shared ? { refreshMs: SHARED_RUNS_REFRESH_MS } : {}),
    });
    this.cadence = new Cadence({
      cadenceMs: o.cadenceMs,
      hasWatchers: (id) => o.hub.subscriberCount(jobTopic(id)) > 0,
      tick: (id) => this.#tick(id),
    });
    // A watcher back from a reconnect missed the ticks of its absence: it hears the state at once.
    o.hub.onResume((topic) => {
      if (topic.startsWith(JOB_TOPIC_PREFIX)) this.cadence.soon(topic.slice(JOB_TOPIC_PREFIX.length));
    });
  }

  leaseMsOf(type: string): number {
    return this.types.get(type)?.leaseMs ?? 30_000;
  }

  /** The wire state of a job now, with its place in line when it waits. */
  stateOf(job: JobRecord, now = Date.now()): JobState {
    return stateOf(job, now, this.stuckAfterMs, job.status === 'queued' ? this.line.place(job, now) : null);
  }

  wake(type: string): void {
    this.events.emit('available', type);
    this.waiters.wake(type);
  }

  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  /**
   * Run `fn` on the job under a valid lease; throws LeaseLostError otherwise. `held`: the record
   * as this node leased it and has not changed since (the in-process runner's, before any
   * report), which spares reading it when the broker's step checks that the record is still where
   * the change read it (`savesJobs`): a copy that fell behind (a cancel, another node's re-lease)
   * is refused there and the change runs again on the stored record. A copy that does not hold
   * the lease (an expiry it predates) is not trusted either: the stored record decides.
   */
  leased<T>(id: string, token: string, fn: (job: JobRecord, lease: Lease) => Promise<T>, held?: JobRecord): Promise<T> {
    let copy = this.o.broker.savesJobs ? held : undefined;
    return this.withLock(id, async () => {
      const job = copy !== undefined && holdsLease(copy, token) ? copy : await this.o.store.get(id);
      copy = undefined;
      if (!job) throw new JobNotFoundError();
      if (!holdsLease(job, token)) throw new LeaseLostError();
      return fn(job, job.lease!);
    });
  }

  /**
   * Publish one stored event carrying the job's state, and move the record's position to it.
   * A broker that keeps the records too (`savesJobs`, Redis) saves the record with the event in
   * one step, refused when the stored record moved on since it was read (a stale lease); the
   * `save` that follows is then skipped unless something changed in between.
   */
  async publish(job: JobRecord, type: JobEventType, extra: Omit<JobEvent, 'type' | 'job'> = {}): Promise<void> {
    await this.#publish(job, type, extra);
    if (this.o.broker.savesJobs) this.#committed.set(job, JSON.stringify(job));
  }

  /**
   * Publish the job's event and save its record, for a change that ends with that event (nothing
   * changes the record between the two). With a broker that saves records (`savesJobs`) the
   * event's step saved it: no copy is kept to compare a later save with, which took two
   * serializations of the record per change (4 % of a node's CPU on the cluster bench's jobs).
   * `wait`: resolve once the record is saved; otherwise it follows as with {@link save}.
   * `newJob`: the job's first event also inserts it (only with a broker that `insertsJobs`);
   * `queueJob`: and queues it (only with a broker that `queuesNewJobs`, into a queue that is
   * `queuedByBroker`); `hold`: keep the record as saved for a lease here ({@link takeCreated});
   * `endJob`: a terminal event's step may also take the job out of such a queue
   * (`AppendInput.endJob`). Resolves to what the broker told: `streamsOpened` (a terminal event
   * on Redis), and with `endJob`, whether it ended the job in the queue and the next job taken.
   */
  async commit(
    job: JobRecord,
    type: JobEventType,
    extra: Omit<JobEvent, 'type' | 'job'> = {},
    options: {
      wait?: boolean;
      newJob?: boolean;
      queueJob?: boolean;
      hold?: boolean;
      endJob?: AppendInput['endJob'];
    } = {},
  ): Promise<Told> {
    const first = options.newJob === true ? (options.queueJob === true ? 'queue' : 'insert') : null;
    const told = await this.#publish(job, type, extra, first, options.endJob);
    if (this.o.broker.savesJobs) this.#committed.delete(job);
    else if (options.wait) await this.o.store.save(job);
    else this.save(job);
    if (options.hold) this.#holdCreated(job, told.record);
    return told;
  }

  async #publish(
    job: JobRecord,
    type: JobEventType,
    extra: Omit<JobEvent, 'type' | 'job'>,
    first: 'insert' | 'queue' | null = null,
    endJob?: AppendInput['endJob'],
  ): Promise<Told> {
    const event: JobEvent = { type, job: this.stateOf(job), ...extra };
    const data = event as unknown as Json;
    let told: Told = {};
    if (this.o.broker.savesJobs) {
      const { publication, duplicate, ...rest } = await this.o.broker.appendAndPublish(jobTopic(job.id), {
        data,
        from: 'inloop',
        job,
        ...(first ? { newJob: true } : {}),
        ...(first === 'queue' ? { queueJob: true } : {}),
        ...(endJob && this.o.queue.queuedByBroker === true ? { endJob } : {}),
      });
      if (!duplicate) this.o.metrics.publications.inc({ kind: 'stored' });
      job.epoch = publication.epoch;
      job.lastOffset = publication.offset;
      told = rest;
    } else {
      const outcome = await this.o.hub.publish(jobTopic(job.id), { data, from: 'inloop' });
      if (!outcome.ephemeral) {
        job.epoch = outcome.epoch;
        job.lastOffset = outcome.offset;
      }
    }
    if (!isTerminal(job.status)) this.cadence.touch(job.id);
    return told;
  }

  /** Records as the broker saved them with their last event (`savesJobs`): a same save is skipped. */
  readonly #committed = new WeakMap<JobRecord, string>();

  /** False when the record is exactly what its last event's step already saved. */
  needsSave(job: JobRecord): boolean {
    const committed = this.#committed.get(job);
    return committed === undefined || committed !== JSON.stringify(job);
  }

  /** Records created on this node, as their first event stored them (JSON), until leased here. */
  readonly #created = new Map<string, { text: string; at: number }>();
  #createdChars = 0;

  /**
   * Keep `job`'s record as its first event stored it, so that leasing it here needs no read
   * (with a broker that saves records: `savesJobs`). The lease's step checks that the stored
   * record is still at this copy's position, as for any change; a copy that fell behind (a cancel,
   * a lease on another node) is refused there and the lease runs again on the stored record.
   * Kept as text: a copy the creator's object cannot change, whose size bounds what is held:
   * `saved`, the record as the broker's step saved it, when it told (else serialized here).
   */
  #holdCreated(job: JobRecord, saved: string | undefined): void {
    if (!this.o.broker.savesJobs) return;
    const now = Date.now();
    for (const [id, held] of this.#created) {
      if (now - held.at <= CREATED_HELD_MS) break;
      this.#drop(id, held.text);
    }
    const text = saved ?? JSON.stringify(job);
    if (this.#createdChars + text.length > CREATED_HELD_CHARS) return;
    this.#created.set(job.id, { text, at: now });
    this.#createdChars += text.length;
  }

  /** The record {@link commit}'s `hold` kept, once: a change refused with it reads the stored one. */
  takeCreated(id: string): JobRecord | undefined {
    const held = this.#created.get(id);
    if (held === undefined) return undefined;
    this.#drop(id, held.text);
    return JSON.parse(held.text) as JobRecord;
  }

  #drop(id: string, text: string): void {
    this.#created.delete(id);
    this.#createdChars -= text.length;
  }

  /** The cadence guarantee: an ephemeral tick with elapsed time, refreshed ETA and estimated progress. */
  async #tick(id: string): Promise<boolean> {
    const job = await this.o.store.get(id);
    if (!job || isTerminal(job.status)) return false;
    const event: JobEvent = { type: 'job.tick', job: this.stateOf(job) };
    await this.o.hub.publish(jobTopic(id), { data: event as unknown as Json, from: 'inloop', ephemeral: true });
    return true;
  }

  /**
   * Save the record without waiting for its commit. The event just published is the durable
   * truth (its commit is awaited, and nothing is acknowledged before it); the record follows it
   * in the same connection's commit order, and a record update lost to a crash is reconciled
   * from the topic on restart (`recover`). Reads on this connection see it at once.
   */
  save(job: JobRecord): void {
    if (!this.needsSave(job)) return;
    this.o.store.save(job).catch((err: unknown) => this.o.logger.error({ err, job: job.id }, 'saving a job failed'));
  }
}
