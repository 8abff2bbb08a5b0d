import type { Logger } from 'pino';

/** Something that keeps data with an expiry: one step of its cleanup at a time. */
export interface Sweepable {
  /** Remove what expired, looking at about `limit` entries; true when more may be due. */
  sweep(limit: number): Promise<boolean>;
}

export interface RetentionOptions {
  /** What to clean, in order (the broker, the presence, conversation and job stores). */
  stores: readonly { name: string; store: Sweepable }[];
  /** Pause between two rounds of cleanup, in ms. */
  intervalMs: number;
  /** Entries looked at per step: small, so that no step holds the event loop for long. @default 200 */
  batch?: number;
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Retention's clock: every `intervalMs`, one round that asks each store to remove what has
 * expired, one small batch per step with a turn of the event loop between steps, so a large
 * backlog (a node started on an old file, a burst of churn) is worked off without stalling
 * deliveries. What expires, and when, is each port's guarantee; this only paces the work.
 */
export class Retention {
  readonly #opts: Required<Omit<RetentionOptions, 'logger'>> & Pick<RetentionOptions, 'logger'>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(options: RetentionOptions) {
    this.#opts = { batch: 200, ...options };
  }

  start(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.round().finally(() => {
        this.#running = null;
        this.start();
      });
    }, this.#opts.intervalMs).unref();
  }

  /** One round: each store until it has nothing more due (or retention stops). */
  async round(): Promise<void> {
    for (const { name, store } of this.#opts.stores) {
      for (let more = true; more && !this.#stopped;) {
        try {
          more = await store.sweep(this.#opts.batch);
        } catch (err) {
          // A store that failed now (shutting down, Redis away) is tried again next round.
          this.#opts.logger?.warn({ err, store: name }, 'retention step failed');
          more = false;
        }
        if (more) await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Stop the clock and wait for a round under way, before the stores close. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
