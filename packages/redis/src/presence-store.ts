import type { Redis } from 'ioredis';
import type { Json, LastSeen } from '@inloop/protocol';
import { PRESENCE_STORE_DEFAULTS, type PresenceStore, type PresenceStoreOptions } from '@inloop/server/ports';
import { guarded, type Keys } from './connection.js';
import { defineScript } from './script.js';

/**
 * KEYS: seen (sorted set), seen meta (hash). ARGV: member, at, meta JSON, keep, cutoff, max age.
 * Keeps the latest `keep` entries younger than `cutoff`; both keys expire `max age` after the
 * last departure (every entry is older than that by then).
 */
const LEFT = `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5], 'LIMIT', 0, 1000)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then
  old = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
`;

/**
 * When members were last seen, in Redis: a sorted set by time per topic (last write wins, the
 * latest `maxCount` younger than `maxAgeMs` kept, trimmed on write) and their metadata beside
 * it. A topic nobody left for `maxAgeMs` has its keys expire, so `sweep` has nothing to do.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly #maxAgeMs: number;
  readonly #maxCount: number;
  readonly #now: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: PresenceStoreOptions = {},
  ) {
    this.#maxAgeMs = options.maxAgeMs ?? PRESENCE_STORE_DEFAULTS.maxAgeMs;
    this.#maxCount = options.maxCount ?? PRESENCE_STORE_DEFAULTS.maxCount;
    this.#now = options.now ?? Date.now;
    defineScript(redis, 'inloopSeen', LEFT, 2);
  }

  left(topic: string, member: string, meta: Json, at: number): void {
    void (this.redis as unknown as { inloopSeen(...a: (string | number)[]): Promise<unknown> })
      .inloopSeen(
        this.keys.lastSeen(topic),
        this.keys.lastSeenMeta(topic),
        member,
        at,
        JSON.stringify(meta),
        this.#maxCount,
        this.#now() - this.#maxAgeMs,
        this.#maxAgeMs,
      )
      .catch(() => {});
  }

  sweep(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async lastSeen(topic: string, limit: number): Promise<LastSeen[]> {
    const cutoff = this.#now() - this.#maxAgeMs;
    const flat = await guarded(() =>
      this.redis.zrevrangebyscore(this.keys.lastSeen(topic), '+inf', cutoff, 'WITHSCORES', 'LIMIT', 0, limit),
    );
    if (flat.length === 0) return [];
    const ids = flat.filter((_, i) => i % 2 === 0);
    const metas = await guarded(() => this.redis.hmget(this.keys.lastSeenMeta(topic), ...ids));
    return ids.map((id, i) => ({
      id,
      meta: (metas[i] ? JSON.parse(metas[i]) : null) as Json,
      lastSeen: Number(flat[i * 2 + 1]),
    }));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
