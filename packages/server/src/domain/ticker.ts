/** Something with queued output to write at the end of the tick. */
export interface Flushable {
  flush(): void;
}

/**
 * Coalesces writes: everything queued during one turn of the event loop is written once, at
 * `setImmediate`. A connection that receives ten publications in a tick gets one frame and one
 * syscall, not ten; this is where fan-out throughput comes from.
 */
export class Ticker {
  #dirty = new Set<Flushable>();
  #armed = false;
  readonly #run = (): void => this.#tick();

  constructor(
    /** Runs first in each tick (the hub turns pending publications into outlet writes). */
    private readonly before: () => void = () => {},
    /** Runs after every outlet has written. */
    private readonly after: () => void = () => {},
  ) {}

  /** Make sure a tick runs soon. */
  arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    setImmediate(this.#run);
  }

  /** Flush `target` at the end of this tick. */
  schedule(target: Flushable): void {
    this.#dirty.add(target);
    this.arm();
  }

  #tick(): void {
    this.#armed = false;
    this.before();
    const dirty = this.#dirty;
    this.#dirty = new Set();
    for (const target of dirty) target.flush();
    this.after();
  }
}
