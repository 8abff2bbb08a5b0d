import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { Refusal } from '@inloop/server/ports';

/**
 * Where Redis is: one server's URL, or some nodes of a Redis Cluster (`host:port`, or
 * `redis://[user:password@]host:port` / `rediss://` for TLS; the others are found from them).
 */
export type RedisTarget = { url: string } | { cluster: readonly string[] };

/**
 * Connections to Redis. Commands never wait in an offline queue: while Redis is unreachable a
 * write fails at once (the caller answers `unavailable`, never a false acknowledgement) and the
 * connection keeps reconnecting in the background, so the node recovers by itself.
 */
export function connect(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Back off to at most one attempt per second; never give up.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    lazyConnect: false,
    ...options,
  });
  // Errors surface on the commands that hit them; the connection's own are expected while Redis
  // is away and would otherwise be unhandled events.
  redis.on('error', () => {});
  return redis;
}

/**
 * A connection to `target`. On a Redis Cluster it is an ioredis `Cluster`, typed as the
 * single-server `Redis` the adapters take: they use only the commands both share, and keep every
 * script's keys in one hash slot (`Keys`). The cluster's connections follow the same rules as
 * {@link connect}'s (no offline queue unless asked, reconnects at most once a second).
 */
export function connectTo(target: RedisTarget, options: RedisOptions = {}): Redis {
  if ('url' in target) return connect(target.url, options);
  const { enableOfflineQueue = false, enableAutoPipelining, ...redisOptions } = options;
  const nodes: { host: string; port: number }[] = [];
  const shared: RedisOptions = {};
  for (const entry of target.cluster) {
    if (/^rediss?:\/\//.test(entry)) {
      const u = new URL(entry);
      nodes.push({ host: u.hostname, port: Number(u.port || 6379) });
      if (u.username) shared.username = decodeURIComponent(u.username);
      if (u.password) shared.password = decodeURIComponent(u.password);
      if (u.protocol === 'rediss:') shared.tls = {};
    } else {
      const colon = entry.lastIndexOf(':');
      nodes.push({ host: entry.slice(0, colon), port: Number(entry.slice(colon + 1)) });
    }
  }
  const cluster = new Cluster(nodes, {
    enableOfflineQueue,
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
    // (ioredis keeps each node's own offline queue on: the cluster's option above decides.)
    redisOptions: { maxRetriesPerRequest: 1, ...shared, ...redisOptions },
  });
  cluster.on('error', () => {});
  cluster.on('node error', () => {});
  return cluster as unknown as Redis;
}

/** True when `redis` is a Redis Cluster connection (see {@link connectTo}). */
export function isCluster(redis: Redis): boolean {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * GET of many keys: one MGET on one server; on a cluster, whose MGET takes keys of one slot
 * only, one GET per key (sent together, a pipeline per master with auto-pipelining).
 */
export function getMany(redis: Redis, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return Promise.resolve([]);
  return isCluster(redis) ? Promise.all(keys.map((k) => redis.get(k))) : redis.mget(keys);
}

/** Resolves once `redis` is connected (or rejects after `timeoutMs`). */
export function whenReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A connection for SUBSCRIBE: it re-subscribes its channels by itself after a reconnect. Without
 * ioredis's ready check: ioredis writes a SUBSCRIBE made while a reconnection is under way at
 * once (Redis takes it while loading), which puts the connection in subscriber mode before the
 * check's INFO, and the INFO then failed the check and every SUBSCRIBE waiting with it (a watch
 * made in that moment failed `unavailable`: 91 of 1,500 watches made one a millisecond across
 * five reconnects).
 */
export function connectSubscriber(target: string | RedisTarget): Redis {
  return connectTo(typeof target === 'string' ? { url: target } : target, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    enableReadyCheck: false,
  });
}

/** Run a Redis call; a failure of the connection becomes the stable `unavailable` refusal. */
export async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof Refusal) throw err;
    throw new Refusal('unavailable', 'the Redis backend is unreachable', { cause: err });
  }
}

/** Keys and channels, all under one prefix; a topic's keys share a hash tag (Redis Cluster). */
export class Keys {
  constructor(readonly prefix: string) {}

  topicMeta(topic: string): string {
    return `${this.prefix}:{t:${topic}}:meta`;
  }
  topicLog(topic: string): string {
    return `${this.prefix}:{t:${topic}}:log`;
  }
  topicIdempotency(topic: string, key: string): string {
    return `${this.prefix}:{t:${topic}}:idem:${key}`;
  }
  topicChannel(topic: string): string {
    return `${this.prefix}:{t:${topic}}:pub`;
  }
  presence(topic: string): string {
    return `${this.prefix}:{p:${topic}}:members`;
  }
  presenceChannel(topic: string): string {
    return `${this.prefix}:{p:${topic}}:changes`;
  }
  lastSeen(topic: string): string {
    return `${this.prefix}:{p:${topic}}:seen`;
  }
  lastSeenMeta(topic: string): string {
    return `${this.prefix}:{p:${topic}}:seen-meta`;
  }
  /** Every node's key in one hash slot, so one MGET reads which nodes are alive on a cluster too. */
  nodeAlive(node: string): string {
    return `${this.prefix}:{nodes}:alive:${node}`;
  }
  get nodesChannel(): string {
    return `${this.prefix}:nodes`;
  }
  conversation(id: string): string {
    return `${this.prefix}:{c:${id}}:conv`;
  }
  conversationMembers(id: string): string {
    return `${this.prefix}:{c:${id}}:members`;
  }
  conversationWatermarks(id: string): string {
    return `${this.prefix}:{c:${id}}:marks`;
  }
  conversationReceipts(id: string, member: string): string {
    return `${this.prefix}:{c:${id}}:receipts:${member}`;
  }
  /** A job's record: in its topic's hash slot, so one script changes both (`job-events.ts`). */
  job(id: string): string {
    return `${this.prefix}:{t:job:${id}}:record`;
  }
  /**
   * Set once a stream of the job was opened (`RedisStreamStore`), in the record's hash slot so
   * that the job's terminal step reads it (`job-events.ts`).
   */
  jobStreamsOpened(id: string): string {
    return `${this.prefix}:{t:job:${id}}:streams-opened`;
  }
  /** Where a job's record was kept before it moved into its topic's hash slot (read to upgrade). */
  jobBefore(id: string): string {
    return `${this.prefix}:job:${id}`;
  }
  jobByKey(createdBy: string, key: string): string {
    return `${this.prefix}:job-key:${createdBy}:${key}`;
  }
  get jobsUnfinished(): string {
    return `${this.prefix}:jobs:unfinished`;
  }
  get jobsOutbox(): string {
    return `${this.prefix}:jobs:outbox`;
  }
  /** Every job's id, for the operator's listing (`RedisJobListing`). */
  get jobsListing(): string {
    return `${this.prefix}:jobs:listing`;
  }
  get jobsChannel(): string {
    return `${this.prefix}:jobs:available`;
  }
  /**
   * Inloop's own queue of one job type (`RedisJobQueue`), braced so that a Redis Cluster keeps a
   * type's keys in one hash slot: `jobs` (each queued or held job's state), `wait` (the line),
   * `delayed` (retries by due time), `active` (held jobs by lock expiry) and `seq` (the line's
   * last arrival number), in that order.
   */
  queue(type: string): [jobs: string, wait: string, delayed: string, active: string, seq: string] {
    const base = `${this.prefix}:{q:${type}}`;
    return [`${base}:jobs`, `${base}:wait`, `${base}:delayed`, `${base}:active`, `${base}:seq`];
  }
  /**
   * BullMQ's prefix. On a Redis Cluster it is braced (`{inloop:bull}`): each BullMQ script takes
   * several keys of a queue, which must share a hash slot, so BullMQ's keys live on one master.
   * On one server it stays `inloop:bull`, where jobs queued before an upgrade still wait.
   */
  bull(clustered: boolean): string {
    return clustered ? `{${this.prefix}:bull}` : `${this.prefix}:bull`;
  }
  durations(type: string, stage: string): string {
    return `${this.prefix}:durations:${type}:${stage}`;
  }
  secret(name: string): string {
    return `${this.prefix}:secret:${name}`;
  }
}
