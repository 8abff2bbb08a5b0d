export interface CadenceOptions {
  /** Longest silence a watcher may see. Capped at 10 s. */
  cadenceMs: number;
  /** Whether anyone on this node watches the job now. */
  hasWatchers: (jobId: string) => boolean;
  /** Publish a tick; resolves false when the job is no longer live. */
  tick: (jobId: string) => Promise<boolean>;
}

/** Delivery of a tick takes a few ms; it is sent this much before the deadline. */
const MARGIN_MS = 250;

/**
 * The cadence guarantee. Each live job has one timer, reset by every event it publishes; when
 * the job has been silent for `cadenceMs` minus a margin and somebody watches it, the node
 * publishes an ephemeral tick. One timer per job, not per watcher: every watcher of the job
 * shares the tick.
 */
export class Cadence {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #intervalMs: number;

  constructor(private readonly o: CadenceOptions) {
    const cadence = Math.min(10_000, o.cadenceMs);
    this.#intervalMs = Math.max(cadence / 2, cadence - MARGIN_MS);
  }

  /** The job just published something: its silence starts now. */
  touch(jobId: string): void {
    clearTimeout(this.#timers.get(jobId));
    const timer = setTimeout(() => void this.#due(jobId), this.#intervalMs);
    timer.unref();
    this.#timers.set(jobId, timer);
  }

  stop(jobId: string): void {
    clearTimeout(this.#timers.get(jobId));
    this.#timers.delete(jobId);
  }

  /** Jobs currently tracked. */
  get size(): number {
    return this.#timers.size;
  }

  async #due(jobId: string): Promise<void> {
    if (!this.#timers.has(jobId)) return;
    let live = true;
    try {
      if (this.o.hasWatchers(jobId)) live = await this.o.tick(jobId);
    } catch {
      // A failed tick is retried on the next interval rather than ending the guarantee.
    }
    if (live && this.#timers.has(jobId)) this.touch(jobId);
    else this.stop(jobId);
  }

  close(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
