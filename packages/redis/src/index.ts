import { RedisNodeBoard } from './node-board.js';
import { RedisWebhookOutbox } from './webhook-outbox.js';
import { randomBytes } from 'node:crypto';
import { JOB_FINISHED_TTL_MS } from '@inloop/server';
import type { Backend } from '@inloop/server/ports';
import { RedisBroker } from './broker.js';
import { connectSubscriber, connectTo, guarded, Keys, whenReady, type RedisTarget } from './connection.js';
import { RedisConversationStore } from './conversation-store.js';
import { BullJobQueue } from './job-queue.js';
import { RedisJobQueue } from './job-line.js';
import { RedisJobLocks } from './job-locks.js';
import { RedisJobStore } from './job-store.js';
import { RedisPresenceReplica } from './presence-replica.js';
import { RedisPresenceStore } from './presence-store.js';
import { RedisStreamStore } from './stream-store.js';

export { RedisBroker } from './broker.js';
export { RedisConversationStore } from './conversation-store.js';
export { RedisPresenceStore } from './presence-store.js';
export { RedisPresenceReplica } from './presence-replica.js';
export { RedisStreamStore } from './stream-store.js';
export { RedisJobStore } from './job-store.js';
export { RedisJobLocks } from './job-locks.js';
export { JobConflictError } from './job-record.js';
export { BullJobQueue } from './job-queue.js';
export { RedisJobQueue } from './job-line.js';
export { RunIds } from './run-ids.js';
export {
  Keys,
  connect,
  connectSubscriber,
  connectTo,
  getMany,
  isCluster,
  whenReady,
  type RedisTarget,
} from './connection.js';

export interface RedisBackendOptions {
  /** One server: `redis://[user:password@]host:port[/db]` (`rediss://` for TLS). */
  url?: string;
  /**
   * A Redis Cluster instead: some of its nodes, `host:port` or `redis://[user:password@]host:port`
   * (`rediss://` for TLS; the credentials and TLS of a URL apply to every node).
   */
  cluster?: readonly string[];
  /** Prefix of every key and channel. @default 'inloop' */
  prefix?: string;
  /**
   * Which queue holds the jobs: Inloop's own scripts (`RedisJobQueue`: one call where BullMQ
   * makes several; docs/operations.md has the figures), or BullMQ (its dashboards and tools see
   * Inloop's jobs). Every node of a cluster must use the same one; after a switch, each node's
   * start takes over what the other held (`JobQueue.adopt`). @default 'inloop'
   */
  jobQueue?: 'inloop' | 'bullmq';
  /** With `jobQueue: 'bullmq'`: how often BullMQ looks for stalled jobs (at most each type's lease). @default 5000 */
  stalledIntervalMs?: number;
}

/**
 * The cluster backend: every node given the same Redis (one server, or a Redis Cluster) shares
 * topics (history in streams, fan-out over pub/sub), presence, conversations and jobs (queued
 * through BullMQ). Resolves once Redis answered, so a node does not start on a wrong URL.
 */
export async function createRedisBackend(options: RedisBackendOptions): Promise<Backend> {
  const keys = new Keys(options.prefix ?? 'inloop');
  const target: RedisTarget =
    options.cluster && options.cluster.length > 0 ? { cluster: options.cluster } : { url: options.url ?? '' };
  if ('url' in target && !target.url) throw new Error('createRedisBackend needs url or cluster');
  // Every call of one event-loop turn goes out in one write (the Redis side of a group commit;
  // on a cluster, one write per master).
  const redis = connectTo(target, { enableAutoPipelining: true });
  const subscriber = connectSubscriber(target);
  const bull: ReturnType<typeof connectTo>[] = [];
  const close = async () => {
    for (const c of [redis, subscriber, ...bull]) c.disconnect();
  };
  try {
    await Promise.all([whenReady(redis), whenReady(subscriber)]);
  } catch {
    await close();
    throw new Error(`Redis at ${redacted(target)} did not answer within 10 s`);
  }
  let finishedTtlMs = JOB_FINISHED_TTL_MS;
  return {
    shared: true,
    // The broker writes a job's record with each of its events (one step per change), so it
    // learns the records' retention from the store's options.
    broker: (brokerOptions) =>
      new RedisBroker({
        ...brokerOptions,
        redis,
        subscriber,
        keys,
        jobs: { finishedTtlMs: () => finishedTtlMs, queueNewJobs: options.jobQueue !== 'bullmq' },
      }),
    jobStore: (storeOptions) => {
      finishedTtlMs = storeOptions?.finishedTtlMs ?? JOB_FINISHED_TTL_MS;
      return new RedisJobStore(redis, keys, storeOptions);
    },
    jobQueue: (store) =>
      options.jobQueue !== 'bullmq'
        ? new RedisJobQueue({ redis, subscriber, keys, store })
        : new BullJobQueue({
            redis,
            subscriber,
            keys,
            store,
            bullConnection: () => {
              // Not auto-pipelined: ioredis builds a pipeline for every turn that sends a command,
              // and each one copies every script defined on the connection (BullMQ defines dozens).
              // That cost more node CPU than the writes it saved (cluster bench, jobs on Redis:
              // about 100 µs of node CPU per job). It never blocks on this connection: its workers
              // take jobs with `block: false` (a blocking call would get a connection of its own).
              const c = connectTo(target, { maxRetriesPerRequest: null, enableOfflineQueue: true });
              bull.push(c);
              return c;
            },
            ...(options.stalledIntervalMs === undefined ? {} : { stalledIntervalMs: options.stalledIntervalMs }),
          }),
    jobLocks: () => new RedisJobLocks(),
    conversationStore: (storeOptions) => new RedisConversationStore(redis, keys, storeOptions),
    presenceStore: (storeOptions) => new RedisPresenceStore(redis, keys, storeOptions),
    presenceReplica: (nodeId, ttlMs) => new RedisPresenceReplica(redis, subscriber, keys, nodeId, ttlMs),
    webhookOutbox: () => new RedisWebhookOutbox(redis, keys),
    streamStore: (storeOptions) => new RedisStreamStore(redis, keys, storeOptions),
    nodeBoard: () => new RedisNodeBoard(redis, keys),
    async secret(name, bytes) {
      const fresh = randomBytes(bytes).toString('base64url');
      const created = await guarded(() => redis.set(keys.secret(name), fresh, 'NX'));
      if (created === 'OK') return { value: fresh, created: true };
      return { value: (await guarded(() => redis.get(keys.secret(name))))!, created: false };
    },
    close,
  };
}

function redacted(target: RedisTarget): string {
  const one = (entry: string) => {
    if (!/^rediss?:\/\//.test(entry)) return entry;
    const u = new URL(entry);
    if (u.password) u.password = '***';
    return u.toString();
  };
  return 'url' in target ? one(target.url) : `the cluster ${target.cluster.map(one).join(',')}`;
}
