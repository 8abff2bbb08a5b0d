import type { Redis } from 'ioredis';
import { KeyedLock, randomToken, type JobLocks } from '@inloop/server';
import { guarded, type Keys } from './connection.js';

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** A holder that dies releases the lock after this long. */
const EXPIRY_MS = 10_000;
/** Give up waiting for a lock after this long. */
const WAIT_MS = 10_000;

/**
 * Per-job locks across nodes: within the process a queue per job (so local contenders do not
 * poll Redis), then a Redis key taken with SET NX PX and released only by its holder.
 */
export class RedisJobLocks implements JobLocks {
  readonly #local = new KeyedLock();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    redis.defineCommand('inloopUnlock', { numberOfKeys: 1, lua: RELEASE });
  }

  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.#local.run(id, async () => {
      const key = this.keys.jobLock(id);
      const token = randomToken(12);
      const deadline = Date.now() + WAIT_MS;
      for (let wait = 2; ; wait = Math.min(50, wait * 2)) {
        if ((await guarded(() => this.redis.set(key, token, 'PX', EXPIRY_MS, 'NX'))) === 'OK') break;
        if (Date.now() > deadline) throw new Error(`job ${id} stayed locked for ${WAIT_MS} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
      try {
        return await fn();
      } finally {
        await (this.redis as unknown as { inloopUnlock(k: string, t: string): Promise<unknown> })
          .inloopUnlock(key, token)
          .catch(() => {});
      }
    });
  }

  idle(): Promise<void> {
    return this.#local.idle();
  }
}
