import { isStored, type Publication } from '../ports/broker.js';
import type { TopicBatch } from './batch.js';
import type { Outlet } from './outlet.js';

/**
 * One connection's interest in one topic. While `syncing` (replaying history after subscribe),
 * live publications are buffered; once in sync they are written straight through. `last` is the
 * highest offset this subscriber has been sent, which removes any duplicate at the seam between
 * replay and live.
 */
export class Subscription {
  #buffer: Publication[] | null = [];
  epoch = '';
  last = 0;
  closed = false;
  /** When this subscriber was last written to (for the job watchers' gap histogram). */
  lastWriteAt = 0;
  /** The longest silence this subscriber has had between writes, ms (job watchers only). */
  longestGapMs = 0;
  /** When it subscribed (performance.now()), for the job watchers' first-event latency. */
  readonly subscribedAt = performance.now();

  constructor(
    readonly outlet: Outlet,
    readonly topic: string,
  ) {}

  get syncing(): boolean {
    return this.#buffer !== null;
  }

  /**
   * Hand over what was buffered while syncing and keep buffering; once a call finds the buffer
   * empty, go live. Checking and switching happen in one synchronous step, so nothing slips
   * between the last buffered publication and the first live one.
   */
  takeBuffer(): Publication[] {
    const buffered = this.#buffer ?? [];
    this.#buffer = buffered.length === 0 ? null : [];
    return buffered;
  }

  deliver(batch: TopicBatch): void {
    if (this.closed) return;
    if (this.#buffer !== null) {
      for (const p of batch.publications) this.#buffer.push(p);
      return;
    }
    if (batch.minOffset === undefined || (batch.minOffset > this.last && batch.epoch === this.epoch)) {
      // The common case: everything in the batch is new to this subscriber; share the bytes.
      this.outlet.push(batch.encoded(this.outlet.codec), batch.publications);
      if (batch.maxOffset !== undefined) this.last = batch.maxOffset;
      return;
    }
    this.write(batch.publications);
  }

  /**
   * Write a replay one publication at a time, pausing while the connection is congested, so a
   * long catch-up never trips the slow-consumer bound of a client that is reading (and one that
   * is not is cut off by the connection's drain). Returns what was written: publications and bytes.
   */
  async replay(publications: readonly Publication[]): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for (const p of publications) {
      if (this.closed || this.outlet.closed) break;
      if (this.outlet.congested) await this.outlet.drain();
      if (this.closed || this.outlet.closed) break;
      const chunk = this.#encodeFresh([p]);
      if (!chunk) continue;
      count += chunk.publications.length;
      bytes += chunk.bytes.length;
      this.outlet.push(chunk.bytes, chunk.publications);
    }
    return { count, bytes };
  }

  /** Write the publications this subscriber has not been sent yet, encoded for it alone. */
  write(publications: readonly Publication[]): number {
    const chunk = this.#encodeFresh(publications);
    if (!chunk) return 0;
    this.outlet.push(chunk.bytes, chunk.publications);
    return chunk.publications.length;
  }

  /** The publications this subscriber has not been sent yet, encoded; moves `last` past them. */
  #encodeFresh(publications: readonly Publication[]): { bytes: Buffer; publications: Publication[] } | null {
    const moved = publications.find((p) => isStored(p) && p.epoch !== this.epoch);
    if (moved && isStored(moved) && this.epoch !== '') {
      // The backend lost this topic's history and started a new epoch: never a silent gap. The
      // subscriber is told its state is stale, then continues from the new epoch.
      this.epoch = moved.epoch;
      this.last = moved.offset - 1;
      this.outlet.subscribed({
        id: undefined,
        topic: this.topic,
        epoch: moved.epoch,
        offset: this.last,
        recovered: false,
        replayed: 0,
      });
    }
    const fresh = publications.filter((p) => !isStored(p) || (p.epoch === this.epoch && p.offset > this.last));
    if (fresh.length === 0) return null;
    for (const p of fresh) if (isStored(p)) this.last = p.offset;
    return { bytes: this.outlet.codec.encode(fresh), publications: fresh };
  }
}
