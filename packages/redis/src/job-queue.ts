import { Job, Queue, Worker } from 'bullmq';
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

export interface BullJobQueueOptions {
  /** Node connection for Inloop's own keys (outbox) and the availability channel. */
  redis: Redis;
  subscriber: Redis;
  /** Builds a connection for BullMQ (it needs `maxRetriesPerRequest: null`). */
  bullConnection: () => Redis;
  keys: Keys;
  store: JobStore;
  /** How often BullMQ looks for stalled jobs. @default 5000 (at most the lease) */
  stalledIntervalMs?: number;
}

/** Finished jobs BullMQ keeps for its own tools; Inloop's records are the history. */
const RETENTION = { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } };

/**
 * KEYS: outbox. ARGV: channel, the number of types, the types, then ids. The jobs are in BullMQ:
 * out of the outbox, and each type said once.
 */
const QUEUED = `
local types = tonumber(ARGV[2])
for i = 3, 2 + types do redis.call('PUBLISH', ARGV[1], ARGV[i]) end
redis.call('ZREM', KEYS[1], unpack(ARGV, 3 + types))
`;

interface QueuedScript {
  inloopJobQueued(...a: string[]): Promise<unknown>;
}

/**
 * Jobs through BullMQ: one BullMQ queue per job type, taken by hand (`getNextJob` with the
 * lease token as BullMQ's lock token, so one token fences both). Lease renewals extend BullMQ's
 * lock; BullMQ's stalled checker, running on every node, hands back jobs whose lock lapsed (a
 * dead worker, a dead node) and reports them, and the service turns that into a retry or a
 * failure. Retries wait in BullMQ's delayed set. Job records, events and estimates stay with
 * Inloop; BullMQ holds only the ids, so its own tools (dashboards, metrics) see the same jobs.
 */
export class BullJobQueue implements JobQueue {
  readonly holdsJobs = true;
  /** Each add is PUBLISHed to every node's subscriber, this one's too (`QUEUED`). */
  readonly announcesAdds = true;
  readonly #o: BullJobQueueOptions;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  readonly #leases = new Map<string, number>();
  readonly #connection: Redis;
  /** BullMQ's prefix (braced on a Redis Cluster: `Keys.bull`). */
  readonly #prefix: string;
  #onAvailable: (type: string) => void = () => {};
  #onStalled: (id: string) => void = () => {};
  #lastPoll = 0;
  #closed = false;
  #queuedBatch: { ids: string[]; types: Set<string>; done: Promise<void> | null } | null = null;

  constructor(options: BullJobQueueOptions) {
    this.#o = options;
    this.#connection = options.bullConnection();
    this.#prefix = options.keys.bull(isCluster(options.redis));
    defineScript(options.redis, 'inloopJobQueued', QUEUED, 1);
    options.subscriber.on('message', (channel: string, type: string) => {
      if (channel === options.keys.jobsChannel) this.#onAvailable(type);
    });
    void options.subscriber.subscribe(options.keys.jobsChannel).catch(() => {});
  }

  #queue(type: string): Queue {
    let q = this.#queues.get(type);
    if (!q) {
      q = new Queue(type, { connection: this.#connection, prefix: this.#prefix });
      q.on('error', () => {});
      this.#queues.set(type, q);
    }
    return q;
  }

  #worker(type: string, leaseMs: number): Worker {
    let w = this.#workers.get(type);
    if (!w) {
      w = new Worker(type, null, {
        connection: this.#connection,
        prefix: this.#prefix,
        autorun: false,
        lockDuration: leaseMs,
        stalledInterval: Math.min(this.#o.stalledIntervalMs ?? 5000, leaseMs),
        // The service counts attempts (a stall is one); BullMQ only detects and hands back.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      w.on('error', () => {});
      w.on('stalled', (id: string) => this.#onStalled(id));
      void w.startStalledCheckTimer().catch(() => {});
      this.#workers.set(type, w);
      this.#leases.set(type, leaseMs);
    }
    return w;
  }

  async add(job: JobRecord): Promise<void> {
    await guarded(() => this.#queue(job.type).add(job.type, {}, { jobId: job.id, ...RETENTION }));
    await this.#queued(job);
  }

  /**
   * Queue what the store says is unfinished (called at every node's start), for jobs another
   * queue held (a switch from Inloop's own queue) or that were lost with Redis: a queued job is
   * added (a no-op for one BullMQ has); a running one is added delayed until its lease lapses,
   * and then retried as a stall would be. BullMQ cannot hold a job under a lock it did not give,
   * so a live worker's next renewal of such a job fails, and the job is retried.
   */
  async adopt(job: JobRecord): Promise<void> {
    if (job.status === 'queued') return this.add(job);
    if (job.status !== 'running' || !job.lease) return;
    const delay = Math.max(0, job.lease.expiresAt - Date.now());
    await guarded(() => this.#queue(job.type).add(job.type, {}, { jobId: job.id, delay, ...RETENTION }));
  }

  /**
   * Out of the outbox and announced to the other nodes' takers: the jobs queued in one turn of
   * the event loop in one call, each type announced once.
   */
  #queued(job: JobRecord): Promise<void> {
    let batch = this.#queuedBatch;
    // A script takes a bounded number of arguments: a very busy turn is sent in several calls.
    if (!batch || batch.ids.length >= 1000) {
      const pending: { ids: string[]; types: Set<string>; done: Promise<void> | null } = {
        ids: [],
        types: new Set(),
        done: null,
      };
      batch = this.#queuedBatch = pending;
      pending.done = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          if (this.#queuedBatch === pending) this.#queuedBatch = null;
          const types = [...pending.types];
          guarded(() =>
            (this.#o.redis as unknown as QueuedScript).inloopJobQueued(
              this.#o.keys.jobsOutbox,
              this.#o.keys.jobsChannel,
              String(types.length),
              ...types,
              ...pending.ids,
            ),
          ).then(() => resolve(), reject);
        }),
      );
    }
    batch.ids.push(job.id);
    batch.types.add(job.type);
    return batch.done!;
  }

  async take(types: readonly string[], max: number, leaseMs: (type: string) => number): Promise<TakenJob[]> {
    const taken: TakenJob[] = [];
    for (const type of types) {
      const ms = leaseMs(type);
      const worker = this.#worker(type, ms);
      while (taken.length < max && !this.#closed) {
        const token = randomToken(18);
        const job = (await guarded(() => worker.getNextJob(token, { block: false }))) as Job | undefined;
        if (!job?.id) break;
        // BullMQ locked it for the lease its worker was made with (the first one asked for this
        // type): a lease asked shorter or longer holds the lock for its own length, so a silent
        // worker's job is handed back when its lease lapses, and a long one is not handed back early.
        if (ms !== this.#leases.get(type)) await guarded(() => job.extendLock(token, ms));
        taken.push({ id: job.id, type, token });
      }
    }
    return taken;
  }

  async renew(job: QueuedJob, token: string, ms: number): Promise<boolean> {
    const locked = await guarded(() => this.#handle(job).extendLock(token, ms));
    return locked === 1;
  }

  async retry(job: QueuedJob, token: string | null, runAt: number): Promise<void> {
    // Without a token the job is not held: BullMQ already put it back (a stall). It waits for
    // its time when next taken.
    if (token === null) return;
    await guarded(() => this.#handle(job).moveToDelayed(runAt, token)).catch(() => {});
  }

  async remove(job: QueuedJob, token: string | null, outcome?: 'succeeded' | 'failed' | 'cancelled'): Promise<void> {
    const handle = this.#handle(job);
    // Not held (queued, cancelled before it ran): take it out of the queue.
    if (token === null) return void (await guarded(() => handle.remove()).catch(() => {}));
    // Held: finish it under its lock, in the BullMQ state that matches (its tools show the same
    // outcome; Inloop's record has the details).
    try {
      if (outcome === 'failed' || outcome === 'cancelled')
        await guarded(() => handle.moveToFailed(new Error(outcome), token, false));
      else await guarded(() => handle.moveToCompleted(null, token, false));
    } catch {
      // The token no longer holds it (BullMQ handed it back after a stall): take it out instead.
      await guarded(() => handle.remove()).catch(() => {});
    }
  }

  /**
   * BullMQ's own Worker finishes a job and fetches its next one in one step (`moveToFinished`
   * with fetchNext): so does this, on a handle bound to the type's worker (whose lock duration
   * the next job is locked for) and under the finished job's token, as BullMQ's Worker does.
   */
  async completeAndTake(job: QueuedJob, token: string, leaseMs: number): Promise<NextTaken> {
    const worker = this.#worker(job.type, leaseMs);
    const handle = new Job(worker as unknown as Queue, job.type, {}, RETENTION, job.id);
    let next: unknown[] | undefined;
    try {
      next = (await guarded(() => handle.moveToCompleted(null, token, !this.#closed))) as unknown[] | undefined;
    } catch {
      // The token no longer holds it (BullMQ handed it back after a stall), or Redis failed: take
      // it out instead. Nothing was looked for, so not null: the taker looks again itself.
      await guarded(() => this.#handle(job).remove()).catch(() => {});
      return undefined;
    }
    const id = next?.[0] ? next[1] : undefined;
    if (typeof id !== 'string' || id === '') return null;
    const taken = { id, type: job.type, token };
    // As in take: a lease of another length than the worker's holds the lock for its own length.
    if (leaseMs !== this.#leases.get(job.type))
      await guarded(() => this.#handle(taken).extendLock(token, leaseMs)).catch(() => {});
    return taken;
  }

  async sweep(
    types: readonly string[],
    now: number,
    leaseMs: (type: string) => number,
  ): Promise<{ available: string[]; stalled: string[] }> {
    // Every node checks every type for stalled jobs, whether it ever took one or not.
    for (const type of types) this.#worker(type, leaseMs(type));
    // Delayed retries become due inside BullMQ without an event: look once a second.
    if (now - this.#lastPoll < 1000) return { available: [], stalled: [] };
    this.#lastPoll = now;
    await flushOutbox(this.#o.redis, this.#o.keys, this.#o.store, now, (job) => this.add(job)).catch(() => {});
    return { available: [...types], stalled: [] };
  }

  onAvailable(handler: (type: string) => void): void {
    this.#onAvailable = handler;
  }

  onStalled(handler: (id: string) => void): void {
    this.#onStalled = handler;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#workers.values()].map((w) => w.close(true)));
    await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
    this.#connection.disconnect();
  }

  /** A BullMQ handle on a job by id, without reading it (the scripts need only id and queue). */
  #handle(job: QueuedJob): Job {
    return new Job(this.#queue(job.type), job.type, {}, RETENTION, job.id);
  }
}
