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

/** A live job's silence: when its next tick is due, and the timer that looks then. */
interface Silence {
  /**
   * When the next tick is due, on the monotonic clock (`performance.now()`): a wall clock set
   * back (NTP, a resumed VM) would otherwise put every silent job's tick off by as much.
   */
  dueAt: number;
  timer: NodeJS.Timeout | undefined;
  /** When `timer` fires. */
  firesAt: number;
}

/**
 * The cadence guarantee. Each live job has one timer; when the job has been silent for
 * `cadenceMs` minus a margin and somebody watches it, the node publishes an ephemeral tick. One
 * timer per job, not per watcher: every watcher of the job shares the tick. An event moves the
 * job's due time, not its timer: a timer that fires before the due time sets itself for the
 * rest (a job's events cost no timer each; most jobs end before their first tick is due).
 */
export class Cadence {
  readonly #jobs = new Map<string, Silence>();
  readonly #intervalMs: number;

  constructor(private readonly o: CadenceOptions) {
    const cadence = Math.min(10_000, o.cadenceMs);
    this.#intervalMs = Math.max(cadence / 2, cadence - MARGIN_MS);
  }

  /** The job just published something: its silence starts now. */
  touch(jobId: string): void {
    this.#dueIn(jobId, this.#intervalMs);
  }

  /**
   * A watcher of the job resumed after a reconnect: tick within {@link SOON_MS} unless a tick is
   * due sooner anyway. Only for jobs this node keeps the cadence of (live ones).
   */
  soon(jobId: string): void {
    const silence = this.#jobs.get(jobId);
    if (silence === undefined || silence.dueAt <= performance.now() + SOON_MS) return;
    this.#dueIn(jobId, SOON_MS);
  }

  #dueIn(jobId: string, ms: number): void {
    const dueAt = performance.now() + ms;
    let silence = this.#jobs.get(jobId);
    if (silence === undefined) {
      silence = { dueAt, timer: undefined, firesAt: Infinity };
      this.#jobs.set(jobId, silence);
    }
    silence.dueAt = dueAt;
    // A timer already set to fire by then looks again when it fires.
    if (silence.timer === undefined || silence.firesAt > dueAt) this.#arm(jobId, silence, ms);
  }

  #arm(jobId: string, silence: Silence, ms: number): void {
    clearTimeout(silence.timer);
    const timer = setTimeout(() => void this.#fired(jobId, silence), ms);
    timer.unref();
    silence.timer = timer;
    silence.firesAt = performance.now() + ms;
  }

  stop(jobId: string): void {
    clearTimeout(this.#jobs.get(jobId)?.timer);
    this.#jobs.delete(jobId);
  }

  /** Jobs currently tracked. */
  get size(): number {
    return this.#jobs.size;
  }

  async #fired(jobId: string, silence: Silence): Promise<void> {
    if (this.#jobs.get(jobId) !== silence) return;
    silence.timer = undefined;
    const left = silence.dueAt - performance.now();
    // The job spoke since this timer was set: not due yet.
    if (left > 0) return this.#arm(jobId, silence, left);
    let live = true;
    try {
      if (this.o.hasWatchers(jobId)) live = await this.o.tick(jobId);
    } catch {
      // A failed tick is retried on the next interval rather than ending the guarantee.
    }
    if (this.#jobs.get(jobId) !== silence) return;
    if (live) this.touch(jobId);
    else this.stop(jobId);
  }

  close(): void {
    for (const silence of this.#jobs.values()) clearTimeout(silence.timer);
    this.#jobs.clear();
  }
}
