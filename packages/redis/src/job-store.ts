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
import { RedisJobListing } from './job-listing.js';

/** Duration samples kept per (type, stage). */
const KEEP_SAMPLES = 500;
/** An idempotency key is remembered this long. */
const KEY_TTL_MS = 24 * 3600_000;

/**
 * KEYS: job, idempotency key (or the job key again), unfinished set, outbox. ARGV: id, JSON,
 * now, key TTL. Returns the existing job's JSON for a reused key, else nothing.
 */
const INSERT = `
if KEYS[2] ~= KEYS[1] then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    local job = redis.call('GET', ARGV[4] .. existing)
    if job then return job end
  end
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return false
`;

/** KEYS: job, unfinished set, outbox. ARGV: id, JSON, TTL. A finished job's last save. */
const SAVE_FINISHED = `
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
`;

/** KEYS: samples list. ARGV: sample JSON, samples kept. */
const ADD_DURATION = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
`;

interface Scripts {
  inloopJobInsert(...a: (string | number)[]): Promise<string | null>;
  inloopJobSaveFinished(...a: (string | number)[]): Promise<unknown>;
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
  readonly #listing: RedisJobListing;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: JobStoreOptions = {},
  ) {
    this.#finishedTtlMs = options.finishedTtlMs ?? JOB_FINISHED_TTL_MS;
    this.#listing = new RedisJobListing(redis, keys);
    redis.defineCommand('inloopJobInsert', { numberOfKeys: 4, lua: INSERT });
    redis.defineCommand('inloopJobSaveFinished', { numberOfKeys: 3, lua: SAVE_FINISHED });
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
        JSON.stringify(job),
        job.createdAt,
        this.keys.job(''),
        KEY_TTL_MS,
      ),
    )) as string | null;
    if (existing) return { job: JSON.parse(existing) as JobRecord, created: false };
    await this.#listing.add(job.id);
    return { job, created: true };
  }

  async get(id: string): Promise<JobRecord | null> {
    const text = await guarded(() => this.redis.get(this.keys.job(id)));
    return text ? (JSON.parse(text) as JobRecord) : null;
  }

  async save(job: JobRecord): Promise<void> {
    const key = this.keys.job(job.id);
    if (isTerminal(job.status)) {
      await guarded(() =>
        this.#scripts.inloopJobSaveFinished(
          key,
          this.keys.jobsUnfinished,
          this.keys.jobsOutbox,
          job.id,
          JSON.stringify(job),
          this.#finishedTtlMs,
        ),
      );
    } else await guarded(() => this.redis.set(key, JSON.stringify(job)));
  }

  async unfinished(): Promise<JobRecord[]> {
    const ids = await guarded(() => this.redis.smembers(this.keys.jobsUnfinished));
    const jobs: JobRecord[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const texts = await guarded(() => this.redis.mget(ids.slice(i, i + 500).map((id) => this.keys.job(id))));
      for (const t of texts) if (t) jobs.push(JSON.parse(t) as JobRecord);
    }
    return jobs.filter((j) => !isTerminal(j.status));
  }

  async addDuration(sample: DurationSample): Promise<void> {
    const key = this.keys.durations(sample.type, sample.stage);
    await guarded(() => this.#scripts.inloopAddDuration(key, JSON.stringify(sample), KEEP_SAMPLES));
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
