import type { Redis } from 'ioredis';
import type { Json, LastSeen } from '@inloop/protocol';
import type { PresenceStore } from '@inloop/server';
import { guarded, type Keys } from './connection.js';

/** Last-seen entries kept per topic. */
const KEEP = 1000;

/** KEYS: seen (sorted set), seen meta (hash). ARGV: member, at, meta JSON, keep. */
const LEFT = `
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
end
return 1
`;

/**
 * When members were last seen, in Redis: a sorted set by time per topic (last write wins, the
 * latest 1000 kept) and their metadata beside it.
 */
export class RedisPresenceStore implements PresenceStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    redis.defineCommand('inloopSeen', { numberOfKeys: 2, lua: LEFT });
  }

  left(topic: string, member: string, meta: Json, at: number): void {
    void (this.redis as unknown as { inloopSeen(...a: (string | number)[]): Promise<unknown> })
      .inloopSeen(this.keys.lastSeen(topic), this.keys.lastSeenMeta(topic), member, at, JSON.stringify(meta), KEEP)
      .catch(() => {});
  }

  async lastSeen(topic: string, limit: number): Promise<LastSeen[]> {
    const flat = await guarded(() => this.redis.zrevrange(this.keys.lastSeen(topic), 0, limit - 1, 'WITHSCORES'));
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
