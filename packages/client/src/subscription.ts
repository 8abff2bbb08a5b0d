import type { Json, Position, PublicationMessage, SignalKind } from '@inloop/protocol';
import { Emitter } from './emitter.js';
import type { InloopError } from './errors.js';

/** A publication as the app sees it. Ephemeral ones have no epoch or offset. */
export interface Publication {
  topic: string;
  data: Json;
  from: string;
  ts: number;
  epoch?: string;
  offset?: number;
  ephemeral: boolean;
}

/** Reported on every (re)subscribe: whether everything missed was replayed. */
export interface SubscribedEvent {
  recovered: boolean;
  replayed: number;
  epoch: string;
  offset: number;
}

/** A signal on a topic: typing, a receipt update, a streamed draft. Live only, never stored. */
export interface Signal {
  topic: string;
  kind: SignalKind;
  data: Json;
  from: string;
  ts: number;
}

export type SubscriptionEvents = {
  publication: (publication: Publication) => void;
  signal: (signal: Signal) => void;
  subscribed: (event: SubscribedEvent) => void;
  /** History could not fill the gap since the last position: the app's state for this topic is stale. */
  reset: (event: SubscribedEvent) => void;
  error: (error: InloopError) => void;
  end: (error?: InloopError) => void;
};

/** What a delivered publication meant for the subscription. */
export type AcceptOutcome = 'delivered' | 'duplicate' | 'gap';

/**
 * One topic subscription, over WebSocket or SSE. It remembers the last position it delivered,
 * resumes from there after a reconnect, and drops anything at or below it, so the app sees each
 * stored publication once, in order. Listen with `on('publication')` or iterate with `for await`.
 */
export class Subscription extends Emitter<SubscriptionEvents> implements AsyncIterable<Publication> {
  /** Last delivered position; resuming starts after it. */
  position: Position | undefined;
  /** Publications dropped as duplicates (already delivered before a reconnect). */
  duplicates = 0;
  #ended = false;
  #queue: Publication[] = [];
  #waiters: ((r: IteratorResult<Publication>) => void)[] = [];

  constructor(
    readonly topic: string,
    since: Position | undefined,
    private readonly onUnsubscribe: (sub: Subscription) => void,
  ) {
    super();
    this.position = since;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** @internal The node confirmed the (re)subscription. */
  handleSubscribed(event: SubscribedEvent): void {
    if (!event.recovered || !this.position || this.position.epoch !== event.epoch) {
      this.position = { epoch: event.epoch, offset: event.offset };
    }
    this.emit('subscribed', event);
    if (!event.recovered) this.emit('reset', event);
  }

  /** @internal A publication arrived: deliver it unless it is a duplicate; report a gap. */
  handlePublication(message: PublicationMessage): AcceptOutcome {
    if (this.#ended) return 'duplicate';
    if (message.kind !== undefined) {
      const { topic, kind, data, from, ts } = message;
      this.emit('signal', { topic, kind, data, from, ts });
      return 'delivered';
    }
    const { epoch, offset } = message;
    if (epoch !== undefined && offset !== undefined) {
      const pos = this.position;
      if (pos && pos.epoch === epoch) {
        if (offset <= pos.offset) {
          this.duplicates++;
          return 'duplicate';
        }
        if (offset > pos.offset + 1) return 'gap';
      }
      this.position = { epoch, offset };
    }
    const publication: Publication = {
      topic: message.topic,
      data: message.data,
      from: message.from,
      ts: message.ts,
      ephemeral: message.ephemeral === true,
      ...(epoch === undefined ? {} : { epoch }),
      ...(offset === undefined ? {} : { offset }),
    };
    this.emit('publication', publication);
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: publication, done: false });
    else if (this.#iterating) this.#queue.push(publication);
    return 'delivered';
  }

  /** @internal The subscription ended (unsubscribed, or refused by the node). */
  handleEnd(error?: InloopError): void {
    if (this.#ended) return;
    this.#ended = true;
    if (error) this.emit('error', error);
    this.emit('end', error);
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  /** Stop receiving publications of this topic. */
  unsubscribe(): void {
    if (this.#ended) return;
    this.onUnsubscribe(this);
    this.handleEnd();
  }

  #iterating = false;

  [Symbol.asyncIterator](): AsyncIterator<Publication> {
    this.#iterating = true;
    return {
      next: () => {
        const value = this.#queue.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
