import { randomToken } from '../../util/random.js';

let lastIdMs = 0;
let idSeq = 0;
/**
 * Job ids sort by creation time (ms, then a sequence) with a random tail: consecutive jobs land on
 * the same storage pages instead of all over the index, and ids are still not guessable in bulk
 * (nor need they be: reading a job takes its token or an API key).
 */
export function newJobId(): string {
  const now = Date.now();
  idSeq = now === lastIdMs ? idSeq + 1 : 0;
  lastIdMs = now;
  return now.toString(36).padStart(9, '0') + idSeq.toString(36).padStart(3, '0') + randomToken(6);
}

/** When a job was created, read from its id (ms since the epoch), or 0 for an id not made here. */
export function jobCreatedAt(id: string): number {
  return /^[0-9a-z]{12}/.test(id) ? parseInt(id.slice(0, 9), 36) : 0;
}
