import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = POOL_BYTES;

/**
 * `bytes` cryptographically random bytes as base64url, drawn from a pool refilled 4 KiB at a time:
 * ids and lease tokens are made per job, and one `randomBytes` call each cost more than the rest
 * of the id.
 */
export function randomToken(bytes: number): string {
  if (used + bytes > POOL_BYTES) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    used = 0;
  }
  const out = pool.toString('base64url', used, used + bytes);
  used += bytes;
  return out;
}
