/**
 * At most one go per `intervalMs` per key, leading and trailing: the first call in a quiet period
 * goes ahead at once; calls within the interval schedule one trailing `later()` at its end, so
 * the last state is never dropped.
 */
export class KeyedThrottle {
  readonly #last = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly intervalMs: number) {}

  /** True: go ahead now. False: a trailing `later()` is (or already was) scheduled. */
  take(key: string, now: number, later: () => void): boolean {
    const last = this.#last.get(key) ?? 0;
    if (now - last >= this.intervalMs) {
      this.#last.set(key, now);
      return true;
    }
    if (!this.#timers.has(key)) {
      const timer = setTimeout(
        () => {
          this.#timers.delete(key);
          this.#last.set(key, Date.now());
          later();
        },
        this.intervalMs - (now - last),
      );
      this.#timers.set(key, timer);
    }
    return false;
  }

  forget(key: string): void {
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    this.#last.delete(key);
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
