import type { Position, PublicationMessage } from '@inloop/protocol';
import type { InloopError } from './errors.js';
import { Subscription, type SubscribedEvent } from './subscription.js';

/** What the table needs from the connection. */
export interface SubscriptionWire {
  /** Whether requests can be sent now; the table is told `connected()` when that changes. */
  ready(): boolean;
  /**
   * Send a subscribe and return its request id. Its success arrives as `handleSubscribed`; a
   * refusal (or a dropped connection, code `unavailable`) calls `failed`.
   */
  subscribe(
    topic: string,
    since: Position | undefined,
    token: string | undefined,
    failed: (e: InloopError) => void,
  ): number;
  /** Send an unsubscribe; `done` once the node answered it, either way. */
  unsubscribe(topic: string, done: () => void): void;
  /**
   * Read one page of the topic's stored history after `after` (HTTP history), for a late consumer
   * whose `since` is older than what the table still has. Without it such a consumer gets `reset`.
   */
  history?(topic: string, after: number, token: string | undefined): Promise<HistoryPage>;
}

/** A page of stored history, as `GET /v1/topics/{topic}/messages` answers it. */
export interface HistoryPage {
  epoch: string;
  /** Some publications after `after` are gone from history. */
  truncated: boolean;
  next: number;
  more: boolean;
  messages: { offset: number; data: PublicationMessage['data']; from: string; ts: number }[];
}

/** At most this many history pages for one late consumer; beyond, it gets `reset`. */
const MAX_FILL_PAGES = 20;

export interface AcquireOptions {
  /** Resume after this position. A later consumer is served from what the topic already delivered. */
  since?: Position | undefined;
  /** A token for this subscription alone; the first one given is used for every (re)subscribe. */
  token?: string | undefined;
}

/** Publications kept per topic, so a consumer arriving late can be served from its own position. */
const RECENT = 64;

interface Entry {
  readonly topic: string;
  /** The node-level subscription: its position is what (re)subscribes resume from. */
  readonly core: Subscription;
  /** One per consumer: topic feeds, typing, presence, conversations, job watches. */
  readonly views: Set<Subscription>;
  token: string | undefined;
  /** Whether the node holds the subscription, as its replies told. */
  held: boolean;
  /**
   * A subscribe (its id) or an unsubscribe (-1) is on the wire, its answer deciding the next step;
   * or -2, a subscribe refused `unavailable` waits to be asked again.
   */
  pending: number | undefined;
  /** Bumped on every disconnect and end: answers to older requests are ignored. */
  generation: number;
  readonly recent: PublicationMessage[];
  scheduled: boolean;
  /** Subscribes refused `unavailable` in a row on a connection that stayed up (see #step). */
  refused: number;
}

/**
 * One subscription per topic per client, shared by every consumer and counted. Acquiring never
 * throws; releasing one consumer never affects the others. The node is brought to the wanted state
 * one request at a time per topic (subscribe while anyone wants the topic, unsubscribe once no one
 * does), decided again after every answer, so any interleaving of acquires and releases ends with
 * the node holding exactly the topics still wanted. Changes made in one turn of the event loop
 * are coalesced: React's StrictMode mount, unmount, mount sends one subscribe.
 */
export class SubscriptionTable {
  readonly #entries = new Map<string, Entry>();
  /** Late consumers being filled from history: the live publications they get meanwhile wait here. */
  readonly #filling = new Map<Subscription, PublicationMessage[]>();

  constructor(private readonly wire: SubscriptionWire) {}

  /** A new consumer of `topic`: its own view of the shared subscription. */
  acquire(topic: string, options: AcquireOptions = {}): Subscription {
    let entry = this.#entries.get(topic);
    if (!entry) {
      entry = {
        topic,
        core: new Subscription(topic, options.since, () => {}),
        views: new Set(),
        token: options.token,
        held: false,
        pending: undefined,
        generation: 0,
        recent: [],
        scheduled: false,
        refused: 0,
      };
      this.#entries.set(topic, entry);
    }
    entry.token ??= options.token;
    const e = entry;
    const view = new Subscription(topic, options.since, (v) => {
      e.views.delete(v);
      this.#schedule(e);
    });
    entry.views.add(view);
    if (entry.held && entry.core.position) queueMicrotask(() => this.#catchUp(e, view));
    this.#schedule(entry);
    return view;
  }

  /** Topics the client wants held: the node should hold exactly these once things settle. */
  get wanted(): string[] {
    return [...this.#entries.values()].filter((e) => e.views.size > 0).map((e) => e.topic);
  }

  /** How many consumers share `topic`. */
  consumers(topic: string): number {
    return this.#entries.get(topic)?.views.size ?? 0;
  }

  /** The connection is up: bring the node to the wanted state. */
  connected(): void {
    for (const entry of [...this.#entries.values()]) this.#step(entry);
  }

  /** The connection dropped: the node holds nothing of ours any more; requests on the wire are void. */
  disconnected(): void {
    for (const entry of this.#entries.values()) {
      entry.generation++;
      entry.held = false;
      entry.pending = undefined;
      if (entry.views.size === 0) this.#entries.delete(entry.topic);
    }
  }

  /** The client stopped for good: every consumer ends with `error`. */
  closed(error: InloopError): void {
    for (const entry of [...this.#entries.values()]) this.#end(entry, error);
  }

  /** @internal The node confirmed a subscribe (ours, or a resubscribe after a gap). */
  handleSubscribed(message: SubscribedEvent & { id?: number; topic: string }): void {
    const entry = this.#entries.get(message.topic);
    if (!entry || (entry.pending !== undefined && message.id !== entry.pending)) return;
    entry.pending = undefined;
    entry.held = true;
    entry.refused = 0;
    if (message.epoch !== entry.core.position?.epoch) entry.recent.length = 0;
    const event: SubscribedEvent = {
      recovered: message.recovered,
      replayed: message.replayed,
      epoch: message.epoch,
      offset: message.offset,
    };
    entry.core.handleSubscribed(event);
    for (const view of [...entry.views]) view.handleSubscribed(event);
    this.#step(entry);
  }

  /**
   * @internal A publication: delivered to every consumer of its topic. A hole in the offsets means
   * something went missing between node and client; the return value says so, and the table
   * resubscribes from the last delivered position, which replays it from history.
   */
  handlePublication(message: PublicationMessage): void {
    const entry = this.#entries.get(message.topic);
    if (!entry) return;
    const outcome = entry.core.handlePublication(message);
    if (outcome === 'gap') return this.#resync(entry);
    if (outcome !== 'delivered') return;
    if (message.kind === undefined && message.offset !== undefined) {
      entry.recent.push(message);
      if (entry.recent.length > RECENT) entry.recent.shift();
    }
    for (const view of [...entry.views]) this.#deliver(view, message);
  }

  /** @internal The node ended the subscription (access withdrawn, its token expired). */
  handleEnded(topic: string, error: InloopError): void {
    const entry = this.#entries.get(topic);
    if (entry) this.#end(entry, error);
  }

  #deliver(view: Subscription, message: PublicationMessage): void {
    const waiting = this.#filling.get(view);
    if (waiting) return void waiting.push(message);
    if (view.handlePublication(message) !== 'gap') return;
    // This consumer came late and from further back than the topic remembers: its state is stale.
    view.handleSubscribed({ recovered: false, replayed: 0, epoch: message.epoch!, offset: message.offset! - 1 });
    view.handlePublication(message);
  }

  /** A consumer joined a live subscription: tell it so, and replay what it missed if we still have it. */
  #catchUp(entry: Entry, view: Subscription): void {
    const at = entry.core.position;
    if (view.ended || !entry.held || !at) return;
    const from = view.position;
    const first = entry.recent[0];
    const covered =
      !from ||
      (from.epoch === at.epoch &&
        (from.offset >= at.offset || (first?.offset !== undefined && first.offset <= from.offset + 1)));
    if (!covered) {
      if (from && from.epoch === at.epoch && from.offset < at.offset && this.wire.history) {
        return void this.#fill(entry, view, from.offset, at);
      }
      return view.handleSubscribed({ recovered: false, replayed: 0, epoch: at.epoch, offset: at.offset });
    }
    const missed = from ? entry.recent.filter((m) => m.offset! > from.offset) : [];
    view.handleSubscribed({
      recovered: true,
      replayed: missed.length,
      epoch: at.epoch,
      offset: from?.offset ?? at.offset,
    });
    for (const m of missed) view.handlePublication(m);
  }

  /**
   * A late consumer from further back than the table remembers: read what it missed from stored
   * history (up to where the shared subscription stood), hold its live publications meanwhile, then
   * deliver both in order; duplicates are dropped by the consumer's own position. If history cannot
   * fill the range (trimmed, another epoch, refused, too long), the consumer gets `reset` instead.
   */
  async #fill(entry: Entry, view: Subscription, after: number, at: Position): Promise<void> {
    const waiting: PublicationMessage[] = [];
    this.#filling.set(view, waiting);
    const missed: PublicationMessage[] = [];
    let ok = false;
    try {
      let cursor = after;
      for (let page = 0; page < MAX_FILL_PAGES && cursor < at.offset && !view.ended; page++) {
        const got = await this.wire.history!(entry.topic, cursor, entry.token);
        if (got.epoch !== at.epoch || (page === 0 && got.truncated)) break;
        for (const m of got.messages) {
          if (m.offset > cursor) missed.push({ type: 'pub', topic: entry.topic, epoch: got.epoch, ...m });
        }
        if (got.next <= cursor) break;
        cursor = got.next;
        if (!got.more) break;
      }
      ok = cursor >= at.offset;
    } catch {
      ok = false;
    }
    this.#filling.delete(view);
    if (view.ended) return;
    if (ok) {
      view.handleSubscribed({ recovered: true, replayed: missed.length, epoch: at.epoch, offset: after });
      for (const m of missed) view.handlePublication(m);
    } else {
      view.handleSubscribed({ recovered: false, replayed: 0, epoch: at.epoch, offset: at.offset });
    }
    for (const m of waiting) this.#deliver(view, m);
  }

  #schedule(entry: Entry): void {
    if (entry.scheduled) return;
    entry.scheduled = true;
    queueMicrotask(() => {
      entry.scheduled = false;
      this.#step(entry);
    });
  }

  /** One request at a time per topic, towards what its consumers want. */
  #step(entry: Entry): void {
    if (this.#entries.get(entry.topic) !== entry) return;
    if (entry.pending !== undefined) return;
    const wanted = entry.views.size > 0;
    if (!wanted && !entry.held) return void this.#entries.delete(entry.topic);
    if (!this.wire.ready() || wanted === entry.held) return;
    const generation = entry.generation;
    if (wanted) {
      entry.pending = this.wire.subscribe(entry.topic, entry.core.position, entry.token, (error) => {
        if (generation !== entry.generation) return;
        entry.pending = undefined;
        // A refusal ends every consumer. `unavailable` does not: a dropped connection resubscribes
        // on the next connect, and on a connection still up (the node's backend was out of reach
        // for a moment) the subscribe is asked again after a pause, 0.25-5 s and growing, with
        // jitter so that a node's clients do not all come back at once.
        if (error.code !== 'unavailable') return this.#end(entry, error);
        if (!this.wire.ready()) return;
        const pause = Math.min(5000, 500 * 2 ** entry.refused) * (0.5 + Math.random() / 2);
        entry.refused++;
        entry.pending = -2;
        setTimeout(() => {
          if (generation !== entry.generation || entry.pending !== -2) return;
          entry.pending = undefined;
          this.#step(entry);
        }, pause);
      });
    } else {
      entry.pending = -1;
      this.wire.unsubscribe(entry.topic, () => {
        if (generation !== entry.generation) return;
        entry.pending = undefined;
        entry.held = false;
        this.#step(entry);
      });
    }
  }

  #resync(entry: Entry): void {
    if (entry.pending !== undefined || !this.wire.ready()) return;
    // The node answers one connection's requests for a topic in order, so this pair is safe.
    this.wire.unsubscribe(entry.topic, () => {});
    entry.held = false;
    this.#step(entry);
  }

  #end(entry: Entry, error: InloopError): void {
    entry.generation++;
    entry.pending = undefined;
    entry.held = false;
    if (this.#entries.get(entry.topic) === entry) this.#entries.delete(entry.topic);
    entry.core.handleEnd(error);
    for (const view of [...entry.views]) view.handleEnd(error);
    entry.views.clear();
  }
}
