import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Give `redis` a method `name` that runs the Lua script `lua` by its SHA1 (`EVALSHA`), sent with
 * `EVAL` instead when a server does not have it yet (after a restart or a failover, and once on
 * each master of a Redis Cluster). With `numberOfKeys`, the method takes the keys then the
 * arguments; without, that number comes first.
 *
 * What ioredis's `defineCommand` does, without its cost on an auto-pipelined connection: ioredis
 * builds a pipeline for every event-loop turn that sends a command, and copies each defined
 * command onto it (two properties per script, thirty scripts here), which on the cluster bench's
 * jobs was about 4 % of a node's CPU, plus the garbage.
 */
export function defineScript(redis: Redis, name: string, lua: string, numberOfKeys?: number): void {
  const sha = createHash('sha1').update(lua).digest('hex');
  const head = numberOfKeys === undefined ? [] : [numberOfKeys];
  const run = async (...args: (string | number)[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, ...(head as [number]), ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(lua, ...(head as [number]), ...args);
    }
  };
  Object.defineProperty(redis, name, { value: run, configurable: true, writable: true });
}
