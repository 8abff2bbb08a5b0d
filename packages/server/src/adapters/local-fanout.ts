import type { EphemeralPublication, Publication } from '../ports/broker.js';

/**
 * Fan-out for brokers whose only node is this process (SQLite, memory): publications go straight
 * to the hub's handler, so per-topic order is the order of the appends, and there is no
 * cross-node interest to track.
 */
export abstract class LocalFanout {
  #handler: (p: Publication) => void = () => {};

  protected deliver(publication: Publication): void {
    this.#handler(publication);
  }

  onPublication(handler: (publication: Publication) => void): void {
    this.#handler = handler;
  }

  publishEphemeral(publication: EphemeralPublication): Promise<void> {
    this.deliver(publication);
    return Promise.resolve();
  }

  watch(_topic: string): Promise<void> {
    return Promise.resolve();
  }

  unwatch(_topic: string): Promise<void> {
    return Promise.resolve();
  }
}
