/**
 * Reconnect delays.
 * @default { minMs: 250, maxMs: 10_000, youngOutageMs: 10_000 }
 */
export interface BackoffOptions {
  /** The shortest wait between attempts (the first retry after a network close waits nothing). @default 250 */
  minMs?: number;
  /** The longest wait between attempts. @default 10_000 */
  maxMs?: number;
  /**
   * How long an outage counts as young: within it, attempts come every `minMs`..`3 * minMs`
   * (jittered), so a network that returns is used within about a second even when the browser
   * says nothing (a proxy or load balancer cut fires no `online` event). @default 10_000
   */
  youngOutageMs?: number;
}

/**
 * How long to wait before reconnect attempt `attempt` (0 = the first after the connection was
 * lost), `outageMs` into the outage:
 *
 * - attempt 0 waits nothing: most closes are one dropped socket, and the node is there;
 * - while the outage is young, a random time in `[minMs, 3 * minMs]` (250-750 ms by default);
 * - later, a random time in `[minMs, ceiling]`, where the ceiling is a quarter of the outage so
 *   far, at most `maxMs`: a long outage costs few attempts, and a network that returns is used
 *   no later than a quarter of the time it was gone.
 *
 * Every wait is jittered, so clients cut off together (a node restart) do not return in step.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  outageMs = 0,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return 0;
  const min = options.minMs ?? 250;
  const max = Math.max(min, options.maxMs ?? 10_000);
  if (outageMs < (options.youngOutageMs ?? 10_000)) return Math.min(max, min + random() * 2 * min);
  const ceiling = Math.min(max, Math.max(3 * min, outageMs / 4));
  return min + random() * (ceiling - min);
}

/**
 * One outage's retry schedule: counts attempts and the outage's age, and says how long to wait
 * before the next attempt. `reset()` once connected.
 */
export class RetrySchedule {
  #attempt = 0;
  #since: number | undefined;

  constructor(
    private readonly options: BackoffOptions = {},
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** Attempts made in this outage. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Whether an outage is under way (an attempt was scheduled since the last `reset()`). */
  get inOutage(): boolean {
    return this.#since !== undefined;
  }

  /** How long this outage has lasted (0 while connected). */
  get outageMs(): number {
    return this.#since === undefined ? 0 : this.now() - this.#since;
  }

  /**
   * The wait before the next attempt. `immediate: false` skips the free first attempt (a close the
   * node chose, say a shutdown: its clients should not all come back in the same instant).
   */
  next(immediate = true): number {
    this.#since ??= this.now();
    const attempt = this.#attempt === 0 && !immediate ? 1 : this.#attempt;
    this.#attempt = attempt + 1;
    return backoffDelay(attempt, this.options, this.outageMs, this.random);
  }

  /**
   * An attempt is being made now, out of schedule (the browser said the network is back): it is
   * the free one, and the waits after it start over from the short end, keeping the outage's age.
   */
  restart(): void {
    this.#since ??= this.now();
    this.#attempt = 1;
  }

  /** Connected: the outage is over. */
  reset(): void {
    this.#attempt = 0;
    this.#since = undefined;
  }
}
