import type { Redis } from 'ioredis';
import {
  randomToken,
  type JobQueue,
  type JobRecord,
  type JobStore,
  type NextTaken,
  type QueuedJob,
  type TakenJob,
} from '@inloop/server';
import { guarded, isCluster, type Keys } from './connection.js';
import { flushOutbox } from './job-outbox.js';

export interface RedisJobQueueOptions {
  /** Node connection (auto-pipelined): the queue's scripts share its writes with the job steps. */
  redis: Redis;
  subscriber: Redis;
  keys: Keys;
  store: JobStore;
}

/**
 * The keys of one type's queue, in this order in every script: `jobs` (a hash: each queued or
 * held job's state, `w` waiting, `d` delayed, else the token that holds it), `wait` (a list, in
 * order), `delayed` (a sorted set by due time), `active` (a sorted set by lock expiry).
 */
const KEYS = 4;

/**
 * Due retries join the line first: moved from `delayed` to the end of `wait` (at most `limit`).
 * A delayed entry whose job left the queue meanwhile is dropped.
 */
const PROMOTE = `
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  if #due == 0 then return end
  redis.call('ZREM', KEYS[3], unpack(due))
  for _, id in ipairs(due) do
    if redis.call('HGET', KEYS[1], id) == 'd' then
      redis.call('HSET', KEYS[1], id, 'w')
      redis.call('RPUSH', KEYS[2], id)
    end
  end
end
`;

/**
 * Take the first waiting job: popped from the line, held under `token` until `expires`. An id in
 * the line whose state is not `w` is a leftover (removed, or held again after a stall put it back
 * twice) and is skipped.
 */
const TAKE_ONE = `
local function takeOne(token, expires)
  while true do
    local id = redis.call('LPOP', KEYS[2])
    if not id then return nil end
    if redis.call('HGET', KEYS[1], id) == 'w' then
      redis.call('HSET', KEYS[1], id, token)
      redis.call('ZADD', KEYS[4], expires, id)
      return id
    end
  end
end
`;

/** Out of the queue, whatever its state (a waiting one's line entry is skipped when reached). */
const DROP = `
local function drop(id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[3], id)
end
`;

/**
 * ARGV: channel, type, then ids (KEYS[5], the outbox, on one server; on a Redis Cluster it is in
 * another slot, and the caller takes the ids out of it after this). Each id not in the queue yet
 * joins the end of the line; the type is announced once if any did.
 */
const ADD = `
local added = 0
for i = 3, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], 'w') == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    added = added + 1
  end
end
if KEYS[5] then redis.call('ZREM', KEYS[5], unpack(ARGV, 3)) end
if added > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return added
`;

/**
 * ARGV: id, the token holding it ('' when queued), its lease's expiry. A job the queue does not
 * hold yet joins the line, or is held under that token until then.
 */
const ADOPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], ARGV[1], 'w')
  redis.call('RPUSH', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
end
return 1
`;

/** ARGV: now, most to take, token prefix, lease ms. The ids taken, the i-th under `<prefix>.<i>`. */
const TAKE = `${PROMOTE}${TAKE_ONE}
local now = tonumber(ARGV[1])
promote(now)
local out = {}
for i = 1, tonumber(ARGV[2]) do
  local id = takeOne(ARGV[3] .. '.' .. i, now + tonumber(ARGV[4]))
  if not id then break end
  out[i] = id
end
return out
`;

/** ARGV: id, token, new lock expiry. 1 if the token still holds the job. */
const RENEW = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
`;

/** ARGV: id, token, due time. Back in the queue, due then; only by the token that holds it. */
const RETRY = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], 'd')
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
`;

/** ARGV: id. */
const REMOVE = `${DROP}
drop(ARGV[1])
return 1
`;

/**
 * ARGV: id, token, now, lease ms, '1' to take the next. The job succeeded: out of the queue, and
 * the next waiting one taken under the same token. `{'lost'}` when the token no longer held it
 * (it is dropped all the same, as the job is finished), `{}` when none was waiting, else
 * `{'taken', id}`.
 */
const COMPLETE = `${PROMOTE}${TAKE_ONE}${DROP}
local held = redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2]
drop(ARGV[1])
if not held then return {'lost'} end
if ARGV[5] ~= '1' then return {} end
local now = tonumber(ARGV[3])
promote(now)
local id = takeOne(ARGV[2], now + tonumber(ARGV[4]))
if not id then return {} end
return {'taken', id}
`;

/**
 * ARGV: now, most to hand back. Jobs whose lock expired go back to the end of the line, and are
 * answered (after a flag: 1 when jobs are due) so that the one node that moved them reports them.
 */
const SWEEP = `${PROMOTE}
local now = tonumber(ARGV[1])
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {0}
if #lapsed > 0 then redis.call('ZREM', KEYS[4], unpack(lapsed)) end
for _, id in ipairs(lapsed) do
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    redis.call('HSET', KEYS[1], id, 'w')
    redis.call('RPUSH', KEYS[2], id)
    out[#out + 1] = id
  end
end
promote(now)
if redis.call('LLEN', KEYS[2]) > 0 then out[1] = 1 end
return out
`;

interface Scripts {
  inloopQueueAdd(...a: string[]): Promise<number>;
  inloopQueueAdopt(...a: (string | number)[]): Promise<number>;
  inloopQueueTake(...a: (string | number)[]): Promise<string[]>;
  inloopQueueRenew(...a: (string | number)[]): Promise<number>;
  inloopQueueRetry(...a: (string | number)[]): Promise<number>;
  inloopQueueRemove(...a: string[]): Promise<number>;
  inloopQueueComplete(...a: (string | number)[]): Promise<string[]>;
  inloopQueueSweep(...a: (string | number)[]): Promise<(string | number)[]>;
}

/** Most lapsed locks one sweep hands back per type (the rest go at the next). */
const SWEEP_LIMIT = 100;
/** How often a node sweeps: stalled locks, due retries, the outbox. */
const SWEEP_EVERY_MS = 1000;

/**
 * Jobs queued in Redis by Inloop's own scripts, one call per change: a take of many jobs is one
 * call, a job's end and the take of the next are one call, and the adds of one event-loop turn
 * are one call per type, which also announces the type to every node. Each type's queue is a
 * line of waiting ids, a set of delayed retries, and a set of held jobs by lock expiry, with
 * each job's state in a hash (its holder's token while held: one token fences the queue and the
 * record). Every node's sweep hands back the jobs whose lock lapsed (one node moves each, and
 * reports it), and moves due retries into the line.
 *
 * Against BullMQ (`BullJobQueue`): no per-job events stream, no job hash, no metrics and no
 * dashboards; one call where BullMQ makes one per taken job. docs/operations.md has the figures.
 */
export class RedisJobQueue implements JobQueue {
  readonly holdsJobs = true;
  readonly announcesAdds = true;
  readonly #o: RedisJobQueueOptions;
  readonly #scripts: Scripts;
  /** On a Redis Cluster the outbox is in another slot than a type's queue. */
  readonly #apart: boolean;
  #onAvailable: (type: string) => void = () => {};
  #lastSweep = 0;
  #closed = false;
  /** Adds of this turn, per type. */
  #adds: Map<string, { ids: string[]; done: Promise<void> }> | null = null;

  constructor(options: RedisJobQueueOptions) {
    this.#o = options;
    this.#apart = isCluster(options.redis);
    this.#scripts = options.redis as unknown as Scripts;
    const define = (name: string, lua: string, keys = KEYS) =>
      options.redis.defineCommand(name, { numberOfKeys: keys, lua });
    define('inloopQueueAdd', ADD, this.#apart ? KEYS : KEYS + 1);
    define('inloopQueueAdopt', ADOPT);
    define('inloopQueueTake', TAKE);
    define('inloopQueueRenew', RENEW);
    define('inloopQueueRetry', RETRY);
    define('inloopQueueRemove', REMOVE);
    define('inloopQueueComplete', COMPLETE);
    define('inloopQueueSweep', SWEEP);
    options.subscriber.on('message', (channel: string, type: string) => {
      if (channel === options.keys.jobsChannel) this.#onAvailable(type);
    });
    void options.subscriber.subscribe(options.keys.jobsChannel).catch(() => {});
  }

  #keys(type: string): string[] {
    return this.#o.keys.queue(type);
  }

  /**
   * Into the line, out of the outbox, announced: the adds of one turn of the event loop in one
   * call per type (a script takes a bounded number of arguments: a very busy turn sends several).
   */
  add(job: JobRecord): Promise<void> {
    let adds = this.#adds;
    if (!adds) {
      const turn = (adds = this.#adds = new Map());
      setImmediate(() => {
        if (this.#adds === turn) this.#adds = null;
      });
    }
    let batch = adds.get(job.type);
    if (!batch || batch.ids.length >= 1000) {
      const ids: string[] = [];
      const type = job.type;
      const done = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          if (this.#adds?.get(type)?.ids === ids) this.#adds.delete(type);
          const keys = this.#keys(type);
          if (!this.#apart) keys.push(this.#o.keys.jobsOutbox);
          guarded(() => this.#scripts.inloopQueueAdd(...keys, this.#o.keys.jobsChannel, type, ...ids))
            .then(() => (this.#apart ? guarded(() => this.#o.redis.zrem(this.#o.keys.jobsOutbox, ...ids)) : 0))
            .then(() => resolve(), reject);
        }),
      );
      batch = { ids, done };
      adds.set(type, batch);
    }
    batch.ids.push(job.id);
    return batch.done;
  }

  /**
   * Hold what the store says is unfinished (called at every node's start): jobs another queue
   * held (a switch from BullMQ) or that were lost with Redis. Queued ones join the line (a retry
   * waiting for its time is held back when taken), running ones stay held until their lease
   * lapses, as they would have in the queue they came from.
   */
  async adopt(job: JobRecord): Promise<void> {
    const lease = job.status === 'running' ? job.lease : null;
    if (job.status !== 'queued' && !lease) return;
    await guarded(() =>
      this.#scripts.inloopQueueAdopt(...this.#keys(job.type), job.id, lease?.token ?? '', lease?.expiresAt ?? 0),
    );
  }

  async take(types: readonly string[], max: number, leaseMs: (type: string) => number): Promise<TakenJob[]> {
    const taken: TakenJob[] = [];
    for (const type of types) {
      if (taken.length >= max || this.#closed) break;
      const token = randomToken(18);
      const ids = await guarded(() =>
        this.#scripts.inloopQueueTake(...this.#keys(type), Date.now(), max - taken.length, token, leaseMs(type)),
      );
      for (const [i, id] of ids.entries()) taken.push({ id, type, token: `${token}.${i + 1}` });
    }
    return taken;
  }

  async renew(job: QueuedJob, token: string, ms: number): Promise<boolean> {
    return (
      (await guarded(() => this.#scripts.inloopQueueRenew(...this.#keys(job.type), job.id, token, Date.now() + ms))) ===
      1
    );
  }

  async retry(job: QueuedJob, token: string | null, runAt: number): Promise<void> {
    // Without a token the job is not held: a sweep already put it back in the line (a stall). It
    // is moved to its due time when next taken, as the service finds it not due yet.
    if (token === null) return;
    await guarded(() => this.#scripts.inloopQueueRetry(...this.#keys(job.type), job.id, token, runAt)).catch(() => {});
  }

  async remove(job: QueuedJob): Promise<void> {
    await guarded(() => this.#scripts.inloopQueueRemove(...this.#keys(job.type), job.id)).catch(() => {});
  }

  async completeAndTake(job: QueuedJob, token: string, leaseMs: number): Promise<NextTaken> {
    let reply: string[];
    try {
      reply = await guarded(() =>
        this.#scripts.inloopQueueComplete(
          ...this.#keys(job.type),
          job.id,
          token,
          Date.now(),
          leaseMs,
          this.#closed ? '' : '1',
        ),
      );
    } catch {
      // Nothing was looked for: the taker looks again itself. The job is finished: out of the queue.
      await this.remove(job);
      return undefined;
    }
    if (reply[0] === 'lost' || this.#closed) return undefined;
    return reply[0] === 'taken' ? { id: reply[1]!, type: job.type, token } : null;
  }

  async sweep(types: readonly string[], now: number): Promise<{ available: string[]; stalled: string[] }> {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return { available: [], stalled: [] };
    this.#lastSweep = now;
    const available: string[] = [];
    const stalled: string[] = [];
    for (const type of types) {
      const [due, ...lapsed] = await guarded(() =>
        this.#scripts.inloopQueueSweep(...this.#keys(type), now, SWEEP_LIMIT),
      );
      if (due === 1) available.push(type);
      stalled.push(...(lapsed as string[]));
    }
    await flushOutbox(this.#o.redis, this.#o.keys, this.#o.store, now, (job) => this.add(job)).catch(() => {});
    return { available, stalled };
  }

  onAvailable(handler: (type: string) => void): void {
    this.#onAvailable = handler;
  }

  /** Lapsed locks are answered by `sweep`, by the one node whose sweep handed them back. */
  onStalled(): void {}

  async close(): Promise<void> {
    this.#closed = true;
  }
}
