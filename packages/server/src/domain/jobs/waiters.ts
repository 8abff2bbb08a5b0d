/**
 * Workers long-polling for jobs: each waits until a job of one of its types may be due, its
 * deadline passes, or its request is aborted. Waking is a hint: the woken worker tries to lease
 * and waits again if another got there first.
 */
export class LeaseWaiters {
  readonly #waiting = new Set<{ types: readonly string[]; wake: () => void }>();

  /** Wait until woken for one of `types`, `untilMs` (epoch ms) or `signal` aborts. */
  wait(types: readonly string[], untilMs: number, signal?: AbortSignal): Promise<void> {
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
    for (const w of [...this.#waiting]) if (w.types.includes(type)) w.wake();
  }

  wakeAll(): void {
    for (const w of [...this.#waiting]) w.wake();
  }
}
