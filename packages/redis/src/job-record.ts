import type { Redis } from 'ioredis';
import type { JobRecord } from '@inloop/server';
import { Refusal } from '@inloop/server';
import type { Keys } from './connection.js';

/**
 * How a job record is kept in Redis: its JSON, with `status`, `epoch` and `lastOffset` written
 * last, so a script reads where a record stands (and whether it finished) from the end of the
 * string without decoding it, and a script that appends a job's event writes the record with the
 * event's position filled in. Readers see ordinary JSON (`JSON.parse`, MGET by other readers).
 */

/**
 * The record up to and including its status, without the closing brace: what a step completes.
 * Serialized once, with the three fields set aside for the moment (`JSON.stringify` skips
 * undefined): copying the record without them (`{ status, ...rest }`) cost more than the
 * serialization itself, three times a job.
 */
export function recordHead(job: JobRecord): string {
  const { status, epoch, lastOffset } = job;
  const loose = job as unknown as Record<'status' | 'epoch' | 'lastOffset', unknown>;
  loose.status = loose.epoch = loose.lastOffset = undefined;
  let body: string;
  try {
    body = JSON.stringify(job);
  } finally {
    job.status = status;
    job.epoch = epoch;
    job.lastOffset = lastOffset;
  }
  return `${body.slice(0, -1)},"status":${JSON.stringify(status)}`;
}

/** The whole record, at the position it carries. */
export function recordText(job: JobRecord): string {
  return recordAtPosition(recordHead(job), job.epoch, job.lastOffset);
}

/** A record's head ({@link recordHead}) completed at a position, as a job's step saves it. */
export function recordAtPosition(head: string, epoch: string, lastOffset: number | string): string {
  return `${head},"epoch":${JSON.stringify(epoch)},"lastOffset":${lastOffset}}`;
}

/**
 * Lua: `recordAt(text)` returns a stored record's status, epoch and last offset (read from its
 * tail; a record written in another layout is decoded), and `finished(status)`.
 */
export const RECORD_AT = `
local function recordAt(text)
  -- The tail is looked for in the last 200 characters first: unanchored at its start, a match
  -- is tried at every position it is given, and a record is several times longer (5 µs a read
  -- over 735 characters, 1.2 over 200).
  local tail = '"status":"(%a+)","epoch":"([^"]*)","lastOffset":(%d+)}$'
  local status, epoch, offset = string.match(text, tail, -200)
  if not offset then status, epoch, offset = string.match(text, tail) end
  if offset then return status, epoch, tonumber(offset) end
  local r = cjson.decode(text)
  return r.status, r.epoch, tonumber(r.lastOffset)
end
local function finished(status)
  return status == 'succeeded' or status == 'failed' or status == 'cancelled'
end
`;

/**
 * A job change read the record at one position, and the record has moved on since (another node
 * changed the job, or a worker's lease was taken over): nothing was written. The job's lock
 * (`RedisJobLocks`) runs the change again on what is stored now; a writer with a stale lease
 * then finds its lease gone.
 */
export class JobConflictError extends Refusal {
  constructor() {
    super('lease_lost', 'the job changed since it was read');
    this.name = 'JobConflictError';
  }
}

/**
 * On a Redis Cluster, take a finished job out of the unfinished set and the outbox, after the
 * step that finished it (they live in other hash slots than the job's keys, so no script takes
 * both). Best effort: the step is done, and what a failure here leaves behind is dropped by its
 * readers (`unfinished()` skips finished records and forgets them, the outbox flush forgets a job
 * that is no longer queued).
 */
export async function unindexFinished(redis: Redis, keys: Keys, id: string): Promise<void> {
  await Promise.all([redis.srem(keys.jobsUnfinished, id), redis.zrem(keys.jobsOutbox, id)]).catch(() => {});
}
