import { KeyedLock, type JobLocks } from '@inloop/server';
import { JobConflictError } from './job-record.js';

/** A change that keeps meeting newer records is given up after this many runs. */
const MAX_RUNS = 8;

/**
 * Per-job exclusion across nodes without a lock in Redis. Within the process, one change of a
 * job runs at a time (a queue per job, so local contenders never conflict). Across nodes, every
 * write of a change is a single step that checks the record is still where the change read it
 * (`job-events.ts`, and the store's save, which never takes a record back): a change that lost
 * the race writes nothing and throws {@link JobConflictError}, and runs again here on what is
 * stored now. A worker whose lease was taken over then finds its lease gone (`lease_lost`).
 *
 * This replaces a Redis lock (SET NX PX, released by its holder) taken around every change:
 * two calls per change, and a holder paused past the lock's expiry could still write.
 */
export class RedisJobLocks implements JobLocks {
  readonly #local = new KeyedLock();

  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.#local.run(id, async () => {
      for (let run = 1; ; run++) {
        try {
          return await fn();
        } catch (err) {
          if (!(err instanceof JobConflictError) || run >= MAX_RUNS) throw err;
        }
      }
    });
  }

  idle(): Promise<void> {
    return this.#local.idle();
  }
}
