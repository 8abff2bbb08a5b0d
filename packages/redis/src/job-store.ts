import type { Redis } from 'ioredis';
import { isTerminal } from '@inloop/protocol';
import {
  JOB_FINISHED_TTL_MS,
  type DurationSample,
  type JobListPage,
  type JobListQuery,
  type JobRecord,
  type JobStore,
  type JobStoreOptions,
} from '@inloop/server';
import { guarded, type Keys } from './connection.js';
import { RECORD_AT, recordText } from './job-record.js';
import { RedisJobListing } from './job-listing.js';

/** Duration samples kept per (type, stage). */
const KEEP_SAMPLES = 500;
/** Most duration samples sent in one call. */
const MAX_BATCH = 1000;
/** An idempotency key is remembered this long. */
const KEY_TTL_MS = 24 * 3600_000;

/**
 * KEYS: job, idempotency key (or the job key again), unfinished set, outbox. ARGV: id, record,
 * now, the record key of id '' split around the id, key TTL. Returns the existing job's record
 * for a reused key, else nothing.
 */
const INSERT = `
if KEYS[2] ~= KEYS[1] then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    local job = redis.call('GET', ARGV[4] .. existing .. ARGV[5])
    if job then return job end
  end
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[6])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return false
`;

/**
 * KEYS: job, unfinished set, outbox. ARGV: id, record, its status, epoch and offset, finished TTL
 * ('' while unfinished). A save without an event (a renewed lease, a record brought up to its
 * topic) never takes a record back: not over a finished one, not behind the position stored.
 */
const SAVE = `${RECORD_AT}
local stored = redis.call('GET', KEYS[1])
if stored then
  local status, epoch, offset = recordAt(stored)
  if finished(status) and not finished(ARGV[3]) then return 0 end
  if epoch == ARGV[4] and offset > tonumber(ARGV[5]) then return 0 end
end
if ARGV[6] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[6])
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
`;

/** KEYS: samples list. ARGV: samples kept, then the samples' JSON, oldest first. */
const ADD_DURATION = `
redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
`;

interface Scripts {
  inloopJobInsert(...a: (string | number)[]): Promise<string | null>;
  inloopJobSave(...a: (string | number)[]): Promise<unknown>;
  inloopAddDuration(...a: (string | number)[]): Promise<unknown>;
}

/**
 * Job records in Redis, as JSON under the job's id; the ids of unfinished jobs in a set (for
 * recovery), and an outbox of jobs inserted but not yet confirmed in the queue: if the node dies
 * between the two writes, another node finds the job there and queues it. Finished records expire
 * after `finishedTtlMs` (7 days by default); duration samples are capped lists per (type, stage).
 */
export class RedisJobStore implements JobStore {
  readonly #finishedTtlMs: number;
  /** Duration samples waiting for the end of this turn, per samples list. */
  readonly #samples = new Map<string, { texts: string[]; done: Promise<void> | null }>();
  readonly #listing: RedisJobListing;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: JobStoreOptions = {},
  ) {
    this.#finishedTtlMs = options.finishedTtlMs ?? JOB_FINISHED_TTL_MS;
    this.#listing = new RedisJobListing(redis, keys);
    redis.defineCommand('inloopJobInsert', { numberOfKeys: 4, lua: INSERT });
    redis.defineCommand('inloopJobSave', { numberOfKeys: 3, lua: SAVE });
    redis.defineCommand('inloopAddDuration', { numberOfKeys: 1, lua: ADD_DURATION });
  }

  get #scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  async insert(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    const jobKey = this.keys.job(job.id);
    const existing = (await guarded(() =>
      this.#scripts.inloopJobInsert(
        jobKey,
        job.idempotencyKey === null ? jobKey : this.keys.jobByKey(job.createdBy, job.idempotencyKey),
        this.keys.jobsUnfinished,
        this.keys.jobsOutbox,
        job.id,
        recordText(job),
        job.createdAt,
        ...recordKeyAround(this.keys),
        KEY_TTL_MS,
      ),
    )) as string | null;
    if (existing) return { job: JSON.parse(existing) as JobRecord, created: false };
    await this.#listing.add(job.id);
    return { job, created: true };
  }

  async get(id: string): Promise<JobRecord | null> {
    const text = await guarded(() => this.redis.get(this.keys.job(id)));
    return text ? (JSON.parse(text) as JobRecord) : this.#upgraded(id);
  }

  /**
   * A record written by a node of an earlier version, under the job's old key: copied to where
   * this version keeps it (in its topic's hash slot, status and position last), so jobs in flight
   * when every node was upgraded are recovered and finish. The old key is left to expire.
   */
  async #upgraded(id: string): Promise<JobRecord | null> {
    const old = await guarded(() => this.redis.get(this.keys.jobBefore(id)));
    if (!old) return null;
    const job = JSON.parse(old) as JobRecord;
    const text = recordText(job);
    await guarded(() =>
      isTerminal(job.status)
        ? this.redis.set(this.keys.job(id), text, 'PX', this.#finishedTtlMs, 'NX')
        : this.redis.set(this.keys.job(id), text, 'NX'),
    );
    // Another node may have upgraded it first (NX): what is stored now wins.
    const now = await guarded(() => this.redis.get(this.keys.job(id)));
    return now ? (JSON.parse(now) as JobRecord) : job;
  }

  async save(job: JobRecord): Promise<void> {
    await guarded(() =>
      this.#scripts.inloopJobSave(
        this.keys.job(job.id),
        this.keys.jobsUnfinished,
        this.keys.jobsOutbox,
        job.id,
        recordText(job),
        job.status,
        job.epoch,
        job.lastOffset,
        isTerminal(job.status) ? this.#finishedTtlMs : '',
      ),
    );
  }

  async unfinished(): Promise<JobRecord[]> {
    const ids = await guarded(() => this.redis.smembers(this.keys.jobsUnfinished));
    const jobs: JobRecord[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      const texts = await guarded(() => this.redis.mget(slice.map((id) => this.keys.job(id))));
      for (const [k, t] of texts.entries()) {
        const job = t ? (JSON.parse(t) as JobRecord) : await this.#upgraded(slice[k]!);
        if (job) jobs.push(job);
      }
    }
    return jobs.filter((j) => !isTerminal(j.status));
  }

  /**
   * Samples of one event-loop turn go out together, one call per (type, stage): at a thousand
   * jobs a second a call per sample would be a tenth of a job's Redis calls.
   */
  addDuration(sample: DurationSample): Promise<void> {
    const key = this.keys.durations(sample.type, sample.stage);
    let batch = this.#samples.get(key);
    // A script takes a bounded number of arguments: a very busy turn is sent in several calls.
    if (!batch || batch.texts.length >= MAX_BATCH) {
      batch = { texts: [], done: null };
      this.#samples.set(key, batch);
      const pending = batch;
      batch.done = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          if (this.#samples.get(key) === pending) this.#samples.delete(key);
          guarded(() => this.#scripts.inloopAddDuration(key, KEEP_SAMPLES, ...pending.texts)).then(
            () => resolve(),
            reject,
          );
        }),
      );
    }
    batch.texts.push(JSON.stringify(sample));
    return batch.done!;
  }

  async durations(type: string, stage: string, limit: number): Promise<DurationSample[]> {
    const texts = await guarded(() => this.redis.lrange(this.keys.durations(type, stage), 0, limit - 1));
    return texts.map((t) => JSON.parse(t) as DurationSample);
  }

  list(query: JobListQuery): Promise<JobListPage> {
    return this.#listing.list(query);
  }

  /** Finished jobs expire with their keys: only the listing's index is swept. */
  sweep(limit: number): Promise<boolean> {
    return this.#listing.sweep(limit);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A record's key split around its id (the insert script finds the job a reused key names). */
function recordKeyAround(keys: Keys): [string, string] {
  const marker = '\u0000';
  const [before, after] = keys.job(marker).split(marker) as [string, string];
  return [before, after];
}
