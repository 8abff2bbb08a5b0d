import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { isTerminal } from '@inloop/protocol';
import {
  JOB_FINISHED_TTL_MS,
  Refusal,
  type DurationSample,
  type JobListPage,
  type JobListQuery,
  type JobRecord,
  type JobStore,
  type JobStoreOptions,
} from '@inloop/server';
import { getMany, guarded, isCluster, type Keys } from './connection.js';
import { RECORD_AT, recordText, unindexFinished } from './job-record.js';
import { RedisJobListing } from './job-listing.js';
import { defineScript } from './script.js';

/** Duration samples kept per (type, stage). */
const KEEP_SAMPLES = 500;
/** Most duration samples sent in one call. */
const MAX_BATCH = 1000;
/** An idempotency key is remembered this long. */
const KEY_TTL_MS = 24 * 3600_000;
/**
 * On a Redis Cluster, a key claimed this recently whose job has no record yet belongs to a
 * creation under way on another node (its record follows within a moment): wait for it. Older,
 * the job never got its record (its node died in between) or it expired: the key is taken over.
 */
const CLAIM_SETTLE_MS = 10_000;

/**
 * KEYS: job, idempotency key (or the job key again), unfinished set, outbox, listing. ARGV: id,
 * record, now, the record key of id '' split around the id, key TTL. Returns the existing job's
 * record for a reused key, else nothing. (One server only: on a cluster these keys are in several
 * slots, see `#insertApart`.)
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
redis.call('ZADD', KEYS[5], 0, ARGV[1])
return false
`;

/**
 * On a Redis Cluster, where the idempotency key, the job's keys and the shared sets are in
 * different hash slots, an insert is several steps: the key first (KEYS: idempotency key; ARGV:
 * id, key TTL), which returns the id holding it and how long ago it was claimed, or claims it.
 */
const CLAIM = `
local held = redis.call('GET', KEYS[1])
if held then return {held, tonumber(ARGV[2]) - redis.call('PTTL', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`;

/**
 * KEYS: idempotency key. ARGV: the id it holds, the new id ('' to free it), key TTL. A key handed
 * over (see CLAIM_SETTLE_MS), or freed by a creation that failed after claiming it.
 */
const TAKE_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

/**
 * KEYS: job, unfinished set, outbox (on a Redis Cluster, the job again: a finished job leaves
 * them after the save). ARGV: id, record, its status, epoch and offset, finished TTL
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
  if KEYS[2] ~= KEYS[1] then
    redis.call('SREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
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
  inloopJobClaimKey(...a: (string | number)[]): Promise<[string, number] | null>;
  inloopJobTakeKey(...a: (string | number)[]): Promise<number>;
}

/**
 * Job records in Redis, as JSON under the job's id; the ids of unfinished jobs in a set (for
 * recovery), and an outbox of jobs inserted but not yet confirmed in the queue: if the node dies
 * between the two writes, another node finds the job there and queues it. Finished records expire
 * after `finishedTtlMs` (7 days by default); duration samples are capped lists per (type, stage).
 *
 * On a Redis Cluster a job's keys share its hash tag (`{t:job:<id>}`, with its event topic),
 * while the sets and idempotency keys are elsewhere: each script then takes one slot's keys, and
 * the sets are written in separate calls, ordered so that a node dying between them leaves
 * nothing a reader cannot tell apart (see `#insertApart`, `unindexFinished`).
 */
export class RedisJobStore implements JobStore {
  readonly #finishedTtlMs: number;
  /** Duration samples waiting for the end of this turn, per samples list. */
  readonly #samples = new Map<string, { texts: string[]; done: Promise<void> | null }>();
  readonly #listing: RedisJobListing;
  /** On a Redis Cluster: the shared sets are written apart from the job's keys. */
  readonly #apart: boolean;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: JobStoreOptions = {},
  ) {
    this.#finishedTtlMs = options.finishedTtlMs ?? JOB_FINISHED_TTL_MS;
    this.#listing = new RedisJobListing(redis, keys);
    defineScript(redis, 'inloopJobInsert', INSERT, 5);
    defineScript(redis, 'inloopJobSave', SAVE, 3);
    defineScript(redis, 'inloopAddDuration', ADD_DURATION, 1);
    defineScript(redis, 'inloopJobClaimKey', CLAIM, 1);
    defineScript(redis, 'inloopJobTakeKey', TAKE_OVER, 1);
    this.#apart = isCluster(redis);
  }

  get #scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  async insert(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    if (this.#apart) return this.#insertApart(job);
    const jobKey = this.keys.job(job.id);
    const existing = (await guarded(() =>
      this.#scripts.inloopJobInsert(
        jobKey,
        job.idempotencyKey === null ? jobKey : this.keys.jobByKey(job.createdBy, job.idempotencyKey),
        this.keys.jobsUnfinished,
        this.keys.jobsOutbox,
        this.#listing.key,
        job.id,
        recordText(job),
        job.createdAt,
        ...recordKeyAround(this.keys),
        KEY_TTL_MS,
      ),
    )) as string | null;
    if (existing) return { job: JSON.parse(existing) as JobRecord, created: false };
    return { job, created: true };
  }

  /**
   * An insert on a Redis Cluster: the idempotency key claimed (or the job holding it returned),
   * then the job's ids in the unfinished set, the outbox and the listing, then its record. A node
   * that dies part-way leaves ids without a record, which every reader skips (the outbox flush
   * forgets them); the other order could leave a record no node would ever queue.
   */
  async #insertApart(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    const key = job.idempotencyKey === null ? null : this.keys.jobByKey(job.createdBy, job.idempotencyKey);
    if (key !== null) {
      const holder = await this.#claim(key, job.id);
      if (holder) return { job: holder, created: false };
    }
    try {
      await guarded(() =>
        Promise.all([
          this.redis.sadd(this.keys.jobsUnfinished, job.id),
          this.redis.zadd(this.keys.jobsOutbox, job.createdAt, job.id),
          this.#listing.add(job.id),
        ]),
      );
      await guarded(() => this.redis.set(this.keys.job(job.id), recordText(job)));
    } catch (err) {
      // Not created: free the key, so the creator's retry does not wait for a job that never was.
      if (key !== null) await this.#scripts.inloopJobTakeKey(key, job.id, '', KEY_TTL_MS).catch(() => {});
      throw err;
    }
    return { job, created: true };
  }

  /** Claim idempotency key `key` for job `id`: null once claimed, else the job holding it. */
  async #claim(key: string, id: string): Promise<JobRecord | null> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const held = await guarded(() => this.#scripts.inloopJobClaimKey(key, id, KEY_TTL_MS));
      if (!held) return null;
      const [holder, ageMs] = held;
      const job = await this.get(holder);
      if (job) return job;
      if (ageMs < CLAIM_SETTLE_MS) {
        await sleep(Math.min(10 * 2 ** attempt, 500));
        continue;
      }
      if ((await guarded(() => this.#scripts.inloopJobTakeKey(key, holder, id, KEY_TTL_MS))) === 1) return null;
    }
    throw new Refusal('unavailable', 'the idempotency key is held by a job whose creation did not finish');
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
    const record = this.keys.job(job.id);
    const saved = await guarded(() =>
      this.#scripts.inloopJobSave(
        record,
        this.#apart ? record : this.keys.jobsUnfinished,
        this.#apart ? record : this.keys.jobsOutbox,
        job.id,
        recordText(job),
        job.status,
        job.epoch,
        job.lastOffset,
        isTerminal(job.status) ? this.#finishedTtlMs : '',
      ),
    );
    if (this.#apart && saved === 1 && isTerminal(job.status)) await unindexFinished(this.redis, this.keys, job.id);
  }

  async unfinished(): Promise<JobRecord[]> {
    const ids = await guarded(() => this.redis.smembers(this.keys.jobsUnfinished));
    const jobs: JobRecord[] = [];
    const finished: string[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const slice = ids.slice(i, i + 500);
      const keys = slice.map((id) => this.keys.job(id));
      const texts = await guarded(() => getMany(this.redis, keys));
      for (const [k, t] of texts.entries()) {
        const job = t ? (JSON.parse(t) as JobRecord) : await this.#upgraded(slice[k]!);
        if (job && isTerminal(job.status)) finished.push(job.id);
        else if (job) jobs.push(job);
      }
    }
    // Finished jobs left behind (on a cluster, by a node that died right after finishing one).
    if (finished.length > 0) await guarded(() => this.redis.srem(this.keys.jobsUnfinished, ...finished));
    return jobs;
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
