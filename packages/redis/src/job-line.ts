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
import { defineScript } from './script.js';

export interface RedisJobQueueOptions {
  /** Node connection (auto-pipelined): the queue's scripts share its writes with the job steps. */
  redis: Redis;
  subscriber: Redis;
  keys: Keys;
  store: JobStore;
}

/**
 * The keys of one type's queue (`Keys.queue`), in this order in every script: `jobs` (a hash:
 * each queued or held job's state, `w` waiting, `d` delayed, else the token that holds it),
 * `wait` (the line: a sorted set by arrival number), `delayed` (a sorted set by due time),
 * `active` (a sorted set by lock expiry), `seq` (the last arrival number). Times are Redis's own
 * clock (`TIME`), so nodes whose clocks disagree agree on when a lock lapsed or a retry is due.
 */
const KEYS = 5;

/**
 * `Q`: the type's queue keys the helpers below work on, the script's first five (a job's step,
 * which ends jobs of many types in one call, sets them per job: see `job-events.ts`). `now()`:
 * Redis's clock in ms; `join(id)`: to the end of the line, as waiting (the entry first: a script
 * that failed halfway leaves an entry a taker skips, never a waiting job with none).
 */
const COMMON = `
local Q = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]}
-- An integer as text, without floating-point formatting (see the broker's TRIM_AGE).
local function int(n) return string.format('%d', n) end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function join(id)
  redis.call('ZADD', Q[2], int(redis.call('INCR', Q[5])), id)
  redis.call('HSET', Q[1], id, 'w')
end
`;

/**
 * Due retries join the line first: moved from `delayed` to the end of `wait` (at most 1,000 a
 * call). A delayed entry whose job left the queue meanwhile is dropped.
 */
const PROMOTE = `
local function promote(at)
  local due = redis.call('ZRANGEBYSCORE', Q[3], '-inf', at, 'LIMIT', 0, 1000)
  if #due == 0 then return end
  redis.call('ZREM', Q[3], unpack(due))
  for _, id in ipairs(due) do
    if redis.call('HGET', Q[1], id) == 'd' then join(id) end
  end
end
`;

/**
 * Take up to `n` waiting jobs from the front of the line, each held under `token(i)` until
 * `expires`. Every line entry is a waiting job (removals take their entry out); one that is not
 * is skipped, within the `n` popped.
 */
const TAKE_SOME = `
local function takeSome(n, token, expires)
  local out = {}
  if n <= 0 then return out end
  expires = int(expires)
  local popped = redis.call('ZPOPMIN', Q[2], n)
  for i = 1, #popped, 2 do
    local id = popped[i]
    if redis.call('HGET', Q[1], id) == 'w' then
      redis.call('HSET', Q[1], id, token(#out + 1))
      redis.call('ZADD', Q[4], expires, id)
      out[#out + 1] = id
    end
  end
  return out
end
`;

/** Out of the queue, whatever its state. */
const DROP = `
local function drop(id)
  redis.call('HDEL', Q[1], id)
  redis.call('ZREM', Q[2], id)
  redis.call('ZREM', Q[3], id)
  redis.call('ZREM', Q[4], id)
end
`;

/**
 * `finish(id, token, leaseMs, takeNext)`: a finished job out of the queue, and with `takeNext`
 * the next waiting one taken under the same token. `{'lost'}` when the token no longer held it
 * (it is dropped all the same, as the job is finished), `{}` when none was taken, else
 * `{'taken', id}`. Held, it is in the leases alone (a take popped it from the line, and only a
 * retry puts it among the delayed); a leftover entry elsewhere (a write that failed halfway)
 * belongs to no waiting job, and whoever pops it skips it, so two commands are spared.
 */
export const QUEUE_FINISH = `${COMMON}${PROMOTE}${TAKE_SOME}${DROP}
local function finish(id, token, leaseMs, takeNext)
  if redis.call('HGET', Q[1], id) ~= token then
    drop(id)
    return {'lost'}
  end
  redis.call('HDEL', Q[1], id)
  redis.call('ZREM', Q[4], id)
  if not takeNext then return {} end
  local at = now()
  promote(at)
  local taken = takeSome(1, function() return token end, at + leaseMs)
  if #taken == 0 then return {} end
  return {'taken', taken[1]}
end
`;

/**
 * ARGV: channel, type, then ids (KEYS[6], the outbox, on one server; on a Redis Cluster it is in
 * another slot, and the caller takes the ids out of it after this). Each id not in the queue yet
 * joins the end of the line; the type is announced once if any did.
 */
const ADD = `${COMMON}
local added = 0
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    join(ARGV[i])
    added = added + 1
  end
end
if KEYS[6] then redis.call('ZREM', KEYS[6], unpack(ARGV, 3)) end
if added > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return added
`;

/**
 * ARGV: id, the token holding it ('' when queued), ms left of its lease, channel, type. A job the
 * queue does not hold yet joins the line (announced), or is held under that token until then; a
 * waiting one with no entry in the line (a write that failed halfway) joins it again.
 */
const ADOPT = `${COMMON}
local state = redis.call('HGET', KEYS[1], ARGV[1])
if state then
  if state == 'w' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    join(ARGV[1])
    redis.call('PUBLISH', ARGV[4], ARGV[5])
  end
  return 0
end
if ARGV[2] == '' then
  join(ARGV[1])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[4], now() + tonumber(ARGV[3]), ARGV[1])
end
return 1
`;

/** ARGV: most to take, token prefix, lease ms. The ids taken, the i-th under `<prefix>.<i>`. */
const TAKE = `${COMMON}${PROMOTE}${TAKE_SOME}
local at = now()
promote(at)
return takeSome(tonumber(ARGV[1]), function(i) return ARGV[2] .. '.' .. int(i) end, at + tonumber(ARGV[3]))
`;

/** ARGV: id, token, lease ms. 1 if the token still holds the job (its lock then runs from now). */
const RENEW = `${COMMON}
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[4], now() + tonumber(ARGV[3]), ARGV[1])
return 1
`;

/** ARGV: id, token, ms until due. Back in the queue, due then; only by the token that holds it. */
const RETRY = `${COMMON}
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], 'd')
redis.call('ZADD', KEYS[3], now() + math.max(0, tonumber(ARGV[3])), ARGV[1])
return 1
`;

/** ARGV: id. */
const REMOVE = `${COMMON}${DROP}
drop(ARGV[1])
return 1
`;

/**
 * ARGV: id, token, lease ms, '1' to take the next. The job succeeded: out of the queue, and the
 * next waiting one taken under the same token (`finish` above). On one server a job's last step
 * does this itself (`job-events.ts`).
 */
const COMPLETE = `${QUEUE_FINISH}
return finish(ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1')
`;

/**
 * ARGV: most to hand back. Jobs whose lock expired go back to the end of the line, and are
 * answered (after a flag: 1 when jobs are waiting) so that the one node that moved them reports
 * them.
 */
const SWEEP = `${COMMON}${PROMOTE}
local at = now()
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', at, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {0}
if #lapsed > 0 then redis.call('ZREM', KEYS[4], unpack(lapsed)) end
for _, id in ipairs(lapsed) do
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    join(id)
    out[#out + 1] = id
  end
end
promote(at)
if redis.call('ZCARD', KEYS[2]) > 0 then out[1] = 1 end
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
  /**
   * On one server, a new job's first step puts it in its line (see `JOB_EVENT`): the broker must
   * then be on the same server with the same key prefix, as `createRedisBackend` makes them.
   */
  readonly queuedByBroker = true;
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
    const define = (name: string, lua: string, keys = KEYS) => defineScript(options.redis, name, lua, keys);
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
    // Announcements made while the subscriber was reconnecting are lost: the next sweep (within
    // the service's sweep period, not this queue's second) looks at every type's line instead.
    // The subscriber was ready before this queue was made, so each 'ready' is a reconnection.
    options.subscriber.on('ready', () => {
      this.#lastSweep = 0;
    });
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
   * waiting for its time is held back when taken), running ones stay held under their lease's
   * token until it lapses, as they would have in the queue they came from.
   */
  async adopt(job: JobRecord): Promise<void> {
    const lease = job.status === 'running' ? job.lease : null;
    if (job.status !== 'queued' && !lease) return;
    await guarded(() =>
      this.#scripts.inloopQueueAdopt(
        ...this.#keys(job.type),
        job.id,
        lease?.token ?? '',
        Math.max(0, (lease?.expiresAt ?? 0) - Date.now()),
        this.#o.keys.jobsChannel,
        job.type,
      ),
    );
  }

  async take(types: readonly string[], max: number, leaseMs: (type: string) => number): Promise<TakenJob[]> {
    const taken: TakenJob[] = [];
    for (const type of types) {
      if (taken.length >= max || this.#closed) break;
      const token = randomToken(18);
      const ids = await guarded(() =>
        this.#scripts.inloopQueueTake(...this.#keys(type), max - taken.length, token, leaseMs(type)),
      );
      for (const [i, id] of ids.entries()) taken.push({ id, type, token: `${token}.${i + 1}` });
    }
    return taken;
  }

  async renew(job: QueuedJob, token: string, ms: number): Promise<boolean> {
    return (await guarded(() => this.#scripts.inloopQueueRenew(...this.#keys(job.type), job.id, token, ms))) === 1;
  }

  async retry(job: QueuedJob, token: string | null, runAt: number): Promise<void> {
    // Without a token the job is not held: a sweep already put it back in the line (a stall). It
    // is moved to its due time when next taken, as the service finds it not due yet.
    if (token === null) return;
    // Due in Redis's clock as long from now as `runAt` is in this node's.
    const inMs = Math.max(0, runAt - Date.now());
    await guarded(() => this.#scripts.inloopQueueRetry(...this.#keys(job.type), job.id, token, inMs)).catch(() => {});
  }

  async remove(job: QueuedJob): Promise<void> {
    await guarded(() => this.#scripts.inloopQueueRemove(...this.#keys(job.type), job.id)).catch(() => {});
  }

  async completeAndTake(job: QueuedJob, token: string, leaseMs: number): Promise<NextTaken> {
    let reply: string[];
    try {
      reply = await guarded(() =>
        this.#scripts.inloopQueueComplete(...this.#keys(job.type), job.id, token, leaseMs, this.#closed ? '' : '1'),
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
      // A type whose sweep failed is looked at again next time; what the others handed back is
      // reported all the same (each lapsed job is handed back once, by whichever sweep moved it).
      const reply = await guarded(() => this.#scripts.inloopQueueSweep(...this.#keys(type), SWEEP_LIMIT)).catch(
        () => null,
      );
      if (!reply) continue;
      const [due, ...lapsed] = reply;
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
