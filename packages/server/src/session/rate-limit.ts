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
}
