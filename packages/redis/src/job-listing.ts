import type { Redis } from 'ioredis';
import type { JobListPage, JobListQuery, JobRecord } from '@inloop/server';
import { getMany, guarded, type Keys } from './connection.js';

/** Records read per listing call at most: a filter that matches little returns a short page and a cursor. */
const SCAN_MAX = 2000;

/**
 * The operator's listing of jobs on Redis: one sorted set of every job id with score 0, so
 * ZREVRANGEBYLEX walks them newest first (ids sort by creation time), and the records are read in
 * batches and filtered by status and type here. The set is written beside each insert and pruned
 * of ids whose records expired (by listing, which meets them, and by the store's sweep).
 */
export class RedisJobListing {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** The sorted set of job ids (one key; the records keep their own per-job keys). */
  get key(): string {
    return this.keys.jobsListing;
  }

  /** The records of `ids` (null where one expired). */
  #records(ids: string[]): Promise<(string | null)[]> {
    const keys = ids.map((id) => this.keys.job(id));
    return guarded(() => getMany(this.redis, keys));
  }

  /** Index a new job. */
  async add(id: string): Promise<void> {
    await guarded(() => this.redis.zadd(this.key, 0, id));
  }

  async list(query: JobListQuery): Promise<JobListPage> {
    const jobs: JobRecord[] = [];
    let before = query.before;
    let scanned = 0;
    while (jobs.length < query.limit && scanned < SCAN_MAX) {
      const batch = Math.min(query.type || query.status ? 200 : query.limit - jobs.length, SCAN_MAX - scanned);
      const ids = await guarded(() =>
        this.redis.zrevrangebylex(this.key, before === undefined ? '+' : `(${before}`, '-', 'LIMIT', 0, batch),
      );
      if (ids.length === 0) return { jobs, next: null };
      const texts = await this.#records(ids);
      const gone: string[] = [];
      for (let i = 0; i < ids.length; i++) {
        const text = texts[i];
        if (!text) {
          gone.push(ids[i]!);
          continue;
        }
        const job = JSON.parse(text) as JobRecord;
        if ((query.status && job.status !== query.status) || (query.type && job.type !== query.type)) continue;
        jobs.push(job);
        if (jobs.length === query.limit) return { jobs, next: job.id };
      }
      if (gone.length > 0) await guarded(() => this.redis.zrem(this.key, ...gone));
      scanned += ids.length;
      before = ids.at(-1)!;
      if (ids.length < batch) return { jobs, next: null };
    }
    return { jobs, next: before ?? null };
  }

  /** Drop up to `limit` of the oldest ids whose records expired; true when the whole batch went. */
  async sweep(limit: number): Promise<boolean> {
    const ids = await guarded(() => this.redis.zrangebylex(this.key, '-', '+', 'LIMIT', 0, limit));
    if (ids.length === 0) return false;
    const exists = await this.#records(ids);
    const gone = ids.filter((_, i) => !exists[i]);
    if (gone.length > 0) await guarded(() => this.redis.zrem(this.key, ...gone));
    return gone.length === limit;
  }
}
