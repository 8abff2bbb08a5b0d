import type { JobRecord } from './job-store.js';

/** A job taken off the queue, locked under `token` until renewed, retried or removed. */
export interface TakenJob {
  id: string;
  type: string;
  token: string;
}

/**
 * What a job's end found when its taker asked for the next job in the same step
 * (`completeAndTake`): the next job, taken; null when the queue looked and had none due (the
 * taker then waits to be woken before it looks again); undefined when nothing was looked for (not
 * asked, a queue that cannot, or a look that failed), so the taker looks itself.
 */
export type NextTaken = TakenJob | null | undefined;

/** How a job ended. */
export type JobOutcome = 'succeeded' | 'failed' | 'cancelled';

/** What the queue needs to find a job. */
export interface QueuedJob {
  id: string;
  type: string;
}

/**
 * The job queue port: which job runs next, who holds it, and noticing a holder that went away.
 * The {@link JobService} owns each job's state (its record and its topic); the queue only orders
 * and locks. Embedded, the store's records are the queue; in a cluster, BullMQ is. Implementations
 * must guarantee:
 * - **Exclusive takes**: a job is held by at most one taker at a time; `renew` with a stale token
 *   returns false.
 * - **Stall detection**: a taken job whose lock is not renewed within its lease is reported once
 *   through `onStalled` and can be taken again.
 * - **Durability**: a job `add`ed (or `retry`ed) survives a crash of the process that added it.
 */
export interface JobQueue {
  /**
   * True when the queue keeps its own entry per job, so a job can be taken only once `add`ed;
   * false when it reads the store, so a job can be taken as soon as it is inserted.
   */
  readonly holdsJobs: boolean;
  /**
   * True when every `add` is reported through `onAvailable` on every node, this one included
   * (BullMQ's queue publishes each one): the service then wakes no one itself, which would wake
   * this node's takers twice for one job.
   */
  readonly announcesAdds?: boolean;
  /**
   * True when the backend's broker can put a new job in this queue, and announce it, in the step
   * of the job's first event ({@link Broker.queuesNewJobs}, asked with `AppendInput.queueJob`):
   * the service then makes no `add` for it. Only this queue knows the broker writes where it
   * reads: a broker composed with another queue is never asked to queue.
   */
  readonly queuedByBroker?: boolean;
  /**
   * The job was inserted in the store: make it available to takers. Idempotent per job id. A
   * queue that holds jobs must also queue, later, a job inserted whose `add` never completed (the
   * node died, the call failed): the job's creator is answered once the job is stored, before it
   * is added (the Redis store keeps an outbox of such jobs, which every node's sweep flushes).
   */
  add(job: JobRecord): Promise<void>;
  /**
   * Optional, for a queue that holds jobs: make sure it holds an unfinished job its store has
   * (called for each at start, by every node): a queued job not in the queue is added; a running
   * one is held under its lease's token until the lease's expiry, or, by a queue that cannot
   * hold a job under a token it did not give, queued to be taken once the lease lapsed (its
   * worker's renewals then fail). Never taken before its lease lapsed. A job the queue holds
   * already is left as it is. Covers a switch from another queue (every node restarted), or a
   * queue lost.
   */
  adopt?(job: JobRecord): Promise<void>;
  /** Take up to `max` due jobs of `types`, each locked for its lease. */
  take(types: readonly string[], max: number, leaseMs: (type: string) => number): Promise<TakenJob[]>;
  /** Keep a taken job locked for `ms` more; false when its lock was lost. */
  renew(job: QueuedJob, token: string, ms: number): Promise<boolean>;
  /** Hand a job back to be taken again from `runAt` (a retry with backoff). */
  retry(job: QueuedJob, token: string | null, runAt: number): Promise<void>;
  /**
   * The job finished (`outcome`) or is gone: it is never taken again. Without an outcome the job
   * was taken by mistake (already finished, or unknown).
   */
  remove(job: QueuedJob, token: string | null, outcome?: JobOutcome): Promise<void>;
  /**
   * Optional: a job held under `token` succeeded (as `remove` with `succeeded`), and its taker
   * takes the next due job of the same type in the same step, locked for `leaseMs` under the same
   * token (the taker is the same): see {@link NextTaken}. A token that no longer held the
   * finished job, or a failed call, is no look (the job is then removed as `remove` does). Spares
   * a queue that can a `take` per job.
   */
  completeAndTake?(job: QueuedJob, token: string, leaseMs: number): Promise<NextTaken>;
  /**
   * Called on a timer by the service with every type this node knows: report due work.
   * `available` names the types that may have due jobs now; `stalled` the taken jobs whose locks
   * expired. A queue that detects stalls itself must watch every type given here, taken on this
   * node or not, so that the jobs of a dead node are found by the survivors.
   */
  sweep(
    types: readonly string[],
    now: number,
    leaseMs: (type: string) => number,
  ): Promise<{ available: string[]; stalled: string[] }>;
  /** Jobs of `type` may have become available on another node (wake local takers). */
  onAvailable(handler: (type: string) => void): void;
  /** A taken job's holder stopped renewing: the queue made it available again. */
  onStalled(handler: (id: string) => void): void;
  close(): Promise<void>;
}

/**
 * Mutual exclusion per job, across every node that may change it: one process holds a
 * job's lock at a time, and a holder that dies releases it after a short expiry.
 */
export interface JobLocks {
  run<T>(id: string, fn: () => Promise<T>): Promise<T>;
  /** Resolves when every lock taken by this process has been released. */
  idle(): Promise<void>;
}
