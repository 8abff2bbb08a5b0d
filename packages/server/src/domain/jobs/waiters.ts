/**
 * Workers long-polling for jobs: each waits until a job of one of its types may be due, its
 * deadline passes, or its request is aborted. Waking is a hint: the woken worker tries to lease
 * and waits again if another got there first.
 *
 * A worker that looked for a job and found none is not waiting yet while its look is under way
 * (the queue's take is asynchronous): a job added then wakes no one. So each wake is counted, a
 * worker notes the count before it looks ({@link seen}), and {@link wait} returns at once when a
 * wake came since. Without that, the jobs of a burst created while a woken worker looked (it
 * lost the first job to another) left it idle until the sweep's next wake (up to 250 ms): in
 * bench:eta, 11 of 17 bursts of 12 jobs started on 3 of their 4 workers, the fourth job of the
 * first round starting 50-135 ms late, which the line's promises could not know.
 */
export class LeaseWaiters {
  readonly #waiting = new Set<{ types: readonly string[]; wake: () => void }>();
  /** Wakes per type, and of all types at once. */
  readonly #wakes = new Map<string, number>();
  #wakesAll = 0;

  /** A mark of the wakes so far for `types`, to pass to {@link wait} after looking for a job. */
  seen(types: readonly string[]): number {
    return types.reduce((sum, type) => sum + (this.#wakes.get(type) ?? 0), this.#wakesAll);
  }

  /**
   * Wait until woken for one of `types`, `untilMs` (epoch ms) or `signal` aborts; at once when
   * a wake for them came after `seen` (see {@link seen}).
   */
  wait(types: readonly string[], untilMs: number, signal?: AbortSignal, seen?: number): Promise<void> {
    if (seen !== undefined && this.seen(types) !== seen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter = { types, wake: () => done() };
      const timer = setTimeout(() => done(), Math.max(0, untilMs - Date.now()));
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(waiter);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      signal?.addEventListener('abort', done);
      this.#waiting.add(waiter);
    });
  }

  /** A job of `type` may be available. */
  wake(type: string): void {
    this.#wakes.set(type, (this.#wakes.get(type) ?? 0) + 1);
    for (const w of [...this.#waiting]) if (w.types.includes(type)) w.wake();
  }

  wakeAll(): void {
    this.#wakesAll++;
    for (const w of [...this.#waiting]) w.wake();
  }
}
