import type { JobLocks, JobQueue, TakenJob } from '../ports/job-queue.js';
import type { QueueingJobStore } from '../ports/job-store.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { randomToken } from '../util/random.js';

/**
 * The embedded queue: the store's records are the queue. A job is due when its record is queued
 * and its `runAfter` has passed; it is held while its record's lease lasts. Nothing is kept
 * here, so there is nothing to lose: a take only names candidates, and the service checks each
 * one under the job's lock before leasing it.
 */
export class StoreQueue implements JobQueue {
  readonly holdsJobs = false;

  constructor(private readonly store: QueueingJobStore) {}

  add(): Promise<void> {
    return Promise.resolve();
  }

  async take(types: readonly string[], max: number): Promise<TakenJob[]> {
    const ids = await this.store.dueIds(types, Date.now(), max);
    // The type is not needed to find a job here (the queue is the record), so it is not read.
    return ids.map((id) => ({ id, type: '', token: randomToken(18) }));
  }

  renew(): Promise<boolean> {
    return Promise.resolve(true);
  }

  retry(): Promise<void> {
    return Promise.resolve();
  }

  remove(): Promise<void> {
    return Promise.resolve();
  }

  async sweep(types: readonly string[], now: number): Promise<{ available: string[]; stalled: string[] }> {
    const stalled = (await this.store.expired(now)).map((job) => job.id);
    const available: string[] = [];
    for (const type of types) if ((await this.store.dueIds([type], now, 1)).length > 0) available.push(type);
    return { available, stalled };
  }

  /** One process is the only taker: nothing becomes available elsewhere. */
  onAvailable(): void {}

  /** Stalls are found by `sweep`. */
  onStalled(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Locks for a node that is the only writer of its jobs: in-process, one queue per job. */
export function localJobLocks(): JobLocks {
  return new KeyedLock();
}
