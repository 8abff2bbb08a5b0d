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
 * A watcher back from a reconnect gets a tick this soon: it missed the ticks of its absence, and
 * its job's state (elapsed time, ETA, estimated progress) is stale. Watchers resuming within this
 * window share one tick, so a node's worth of clients reconnecting at once costs one per job.
 */
const SOON_MS = 100;

/**
 * The cadence guarantee. Each live job has one timer, reset by every event it publishes; when
 * the job has been silent for `cadenceMs` minus a margin and somebody watches it, the node
 * publishes an ephemeral tick. One timer per job, not per watcher: every watcher of the job
 * shares the tick.
 */
export class Cadence {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** When each job's next tick is due (epoch ms). */
  readonly #dueAt = new Map<string, number>();
  readonly #intervalMs: number;

  constructor(private readonly o: CadenceOptions) {
    const cadence = Math.min(10_000, o.cadenceMs);
    this.#intervalMs = Math.max(cadence / 2, cadence - MARGIN_MS);
  }

  /** The job just published something: its silence starts now. */
  touch(jobId: string): void {
    this.#arm(jobId, this.#intervalMs);
  }

  /**
   * A watcher of the job resumed after a reconnect: tick within {@link SOON_MS} unless a tick is
   * due sooner anyway. Only for jobs this node keeps the cadence of (live ones).
   */
  soon(jobId: string): void {
    const due = this.#dueAt.get(jobId);
    if (due === undefined || due <= Date.now() + SOON_MS) return;
    this.#arm(jobId, SOON_MS);
  }

  #arm(jobId: string, ms: number): void {
    clearTimeout(this.#timers.get(jobId));
    const timer = setTimeout(() => void this.#due(jobId), ms);
    timer.unref();
    this.#timers.set(jobId, timer);
    this.#dueAt.set(jobId, Date.now() + ms);
  }

  stop(jobId: string): void {
    clearTimeout(this.#timers.get(jobId));
    this.#timers.delete(jobId);
    this.#dueAt.delete(jobId);
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
    this.#dueAt.clear();
  }
}
