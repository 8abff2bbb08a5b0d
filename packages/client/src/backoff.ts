/** Reconnect delays. @default { minMs: 250, maxMs: 10_000 } */
export interface BackoffOptions {
  minMs?: number;
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter: attempt n waits a random time in [0, min(max, min*2^n)],
 * never less than `minMs / 2`, so a thousand clients cut off together do not return together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const min = options.minMs ?? 250;
  const max = options.maxMs ?? 10_000;
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 16));
  return Math.max(min / 2, Math.random() * ceiling);
}
