import type { Redis } from 'ioredis';
import type { NodeBoard } from '@inloop/server';
import { guarded, type Keys } from './connection.js';

/** An entry not renewed for this long is deleted by the next reader. */
const FORGET_MS = 10 * 60_000;

/**
 * The console's node board on Redis: one hash, a field per node holding `<ms> <entry>`. Readers
 * skip entries older than they want and delete those older than ten minutes.
 */
export class RedisNodeBoard implements NodeBoard {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  get #key(): string {
    return `${this.keys.prefix}:console:nodes`;
  }

  async post(node: string, entry: string): Promise<void> {
    await guarded(() => this.redis.hset(this.#key, node, `${Date.now()} ${entry}`));
  }

  async all(maxAgeMs: number): Promise<{ node: string; at: number; entry: string }[]> {
    const fields = await guarded(() => this.redis.hgetall(this.#key));
    const now = Date.now();
    const out: { node: string; at: number; entry: string }[] = [];
    const stale: string[] = [];
    for (const [node, value] of Object.entries(fields)) {
      const space = value.indexOf(' ');
      const at = Number(value.slice(0, space));
      if (now - at > FORGET_MS) stale.push(node);
      else if (now - at <= maxAgeMs) out.push({ node, at, entry: value.slice(space + 1) });
    }
    if (stale.length > 0) await guarded(() => this.redis.hdel(this.#key, ...stale));
    return out;
  }

  async remove(node: string): Promise<void> {
    await guarded(() => this.redis.hdel(this.#key, node));
  }
}
