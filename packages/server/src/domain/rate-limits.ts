import type { Principal } from '../auth/principal.js';
import { Refusal } from '../errors.js';

/**
 * What a rate limit counts. Each class has its own budget per principal, shared by every
 * connection and transport of that principal:
 * - `publish`: stored and ephemeral publishes, conversation sends;
 * - `signal`: typing start and stop, draft chunks;
 * - `presence`: presence joins (and HTTP renewals) and updates;
 * - `receipt`: conversation receipts.
 */
export const RateActions = ['publish', 'signal', 'presence', 'receipt'] as const;
export type RateAction = (typeof RateActions)[number];

/** A sustained rate and the burst allowed on top of it. */
export interface RateBudget {
  ratePerSec: number;
  burst: number;
}

export interface RateLimitsOptions {
  /** The budget of each action class, for one client principal (a token's subject). */
  budgets: Record<RateAction, RateBudget>;
  /**
   * An API key gets this many times each client budget; 0 exempts API keys altogether.
   * @default 100
   */
  apiKeyMultiplier?: number;
  /**
   * Buckets kept at most. Full buckets are dropped first (they hold nothing a fresh one would
   * not); past the bound the oldest goes, which at worst hands that principal a fresh burst.
   * @default 100_000
   */
  maxBuckets?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
}

/** How often buckets that filled up again are dropped, at most. */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * A token bucket: `ratePerSec` sustained, `burst` at once. Allocation-free on the hot path.
 */
export class TokenBucket {
  #tokens: number;
  #updated: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = burst;
    this.#updated = now();
  }

  /** Take one token; returns 0 on success, else the ms to wait until one is available. */
  take(): number {
    const now = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updated) * this.ratePerSec) / 1000);
    this.#updated = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSec);
  }

  /** Whether the bucket has refilled to its burst: it is then no different from a new one. */
  full(): boolean {
    return this.#tokens + ((this.now() - this.#updated) * this.ratePerSec) / 1000 >= this.burst;
  }
}

/** The refusal of a request that must wait `waitMs` before it may be made again. */
export function rateLimited(waitMs: number): Refusal {
  return new Refusal('rate_limited', `retry in ${waitMs} ms`, { retryAfterMs: waitMs });
}

/** The key of a principal's buckets: API keys and token subjects never share one. */
function principalKey(principal: Principal): string {
  return principal.kind === 'key' ? `key\n${principal.name}` : `sub\n${principal.sub}`;
}

/**
 * Rate limits per principal (a token's subject, or an API key's name) and action class. One
 * instance serves the whole node, so a client has the same budget whether it writes over the
 * WebSocket, over HTTP, or over several connections at once.
 *
 * ```ts
 * const wait = limits.take(principal, 'publish');
 * if (wait > 0) refuse('rate_limited', wait);
 * ```
 */
export class RateLimits {
  readonly #budgets: Record<RateAction, RateBudget>;
  readonly #keyMultiplier: number;
  readonly #maxBuckets: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, TokenBucket>();
  #lastSweep: number;

  constructor(options: RateLimitsOptions) {
    this.#budgets = options.budgets;
    this.#keyMultiplier = options.apiKeyMultiplier ?? 100;
    this.#maxBuckets = options.maxBuckets ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#lastSweep = this.#now();
  }

  /** Take one unit of `action` for `principal`: 0 to go ahead, else the ms until it may. */
  take(principal: Principal, action: RateAction): number {
    if (principal.kind === 'key' && this.#keyMultiplier === 0) return 0;
    const key = `${action}\n${principalKey(principal)}`;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      this.#evict();
      const budget = this.#budgets[action];
      const scale = principal.kind === 'key' ? this.#keyMultiplier : 1;
      bucket = new TokenBucket(budget.ratePerSec * scale, Math.max(1, Math.round(budget.burst * scale)), this.#now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take();
  }

  /**
   * Like {@link take}, but throws a `rate_limited` refusal carrying the wait (HTTP answers it
   * with 429 and `Retry-After`).
   */
  admit(principal: Principal, action: RateAction): void {
    const wait = this.take(principal, action);
    if (wait > 0) throw rateLimited(wait);
  }

  /** Buckets held now (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Drop full buckets now and then (a sweep is one pass, at most every 10 s), and the oldest
   * ones past the bound.
   */
  #evict(): void {
    const now = this.#now();
    if (now - this.#lastSweep >= SWEEP_INTERVAL_MS) {
      this.#lastSweep = now;
      for (const [key, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxBuckets) break;
      this.#buckets.delete(key);
    }
  }
}
