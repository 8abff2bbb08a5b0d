import { createHash } from 'node:crypto';
import { randomToken } from '../util/random.js';

/** A fresh epoch: 8 random url-safe characters (never contains `:`). */
export function newEpoch(): string {
  return randomToken(6);
}

/** Digest of a payload, to tell a resend from a conflicting reuse of an idempotency key. */
export function payloadDigest(data: unknown): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('base64url');
}
