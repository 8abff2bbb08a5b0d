import { Redis, type RedisOptions } from 'ioredis';
import { Refusal } from '@inloop/server/ports';

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

/** A connection for SUBSCRIBE: it re-subscribes its channels by itself after a reconnect. */
export function connectSubscriber(url: string): Redis {
  return connect(url, { enableOfflineQueue: true, maxRetriesPerRequest: null });
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
  get jobsChannel(): string {
    return `${this.prefix}:jobs:available`;
  }
  durations(type: string, stage: string): string {
    return `${this.prefix}:durations:${type}:${stage}`;
  }
  secret(name: string): string {
    return `${this.prefix}:secret:${name}`;
  }
}
