import type { Redis } from 'ioredis';
import type { JobRecord, JobStore } from '@inloop/server';
import type { Keys } from './connection.js';

/** An outbox entry older than this is a job whose node died between its two writes. */
export const OUTBOX_GRACE_MS = 5000;

/**
 * Queue the jobs whose creating node stored them but never queued them (it died in between, or
 * its add failed): each job's first step puts its id in the outbox, and the queue's add takes it
 * out. Any node's sweep calls this; `add` must be idempotent per job id.
 */
export async function flushOutbox(
  redis: Redis,
  keys: Keys,
  store: JobStore,
  now: number,
  add: (job: JobRecord) => Promise<void>,
): Promise<void> {
  const ids = await redis.zrangebyscore(keys.jobsOutbox, 0, now - OUTBOX_GRACE_MS, 'LIMIT', 0, 100);
  for (const id of ids) {
    const job = await store.get(id);
    if (job && job.status === 'queued') await add(job);
    else await redis.zrem(keys.jobsOutbox, id);
  }
}
