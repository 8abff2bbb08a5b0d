import {
  JOB_TOPIC_PREFIX,
  type ErrorCode,
  type Json,
  type Position,
  type ServerMessage,
  type SignalKind,
} from '@inloop/protocol';
import type { Logger } from 'pino';
import {
  isStored,
  type Broker,
  type EphemeralPublication,
  type Publication,
  type StoredPublication,
} from '../ports/broker.js';
import type { Metrics } from '../metrics.js';
import { TopicBatch } from './batch.js';
import { jobCreatedAt } from './jobs/ids.js';
import type { Outlet, PublicationCodec } from './outlet.js';
import { Subscription } from './subscription.js';
import { Ticker } from './ticker.js';

export interface PublishRequest {
  data: Json;
  from: string;
  ephemeral?: boolean;
  idempotencyKey?: string;
  /** Marks an ephemeral publication as a signal (typing, receipt, draft). */
  kind?: SignalKind;
}

export type PublishOutcome =
  { ephemeral: true } | { ephemeral: false; epoch: string; offset: number; ts: number; duplicate: boolean };

export interface HubOptions {
  broker: Broker;
  metrics: Metrics;
  /**
   * The write scheduler shared with every connection; the hub runs its fan-out at the start of
   * each tick. @default a ticker of its own
   */
  ticker?: Ticker;
  /** Most publications read per history query while replaying. @default 500 */
  replayPageSize?: number;
  /**
   * Bytes a replay reads per history query, aimed at from the size of the publications seen so
   * far: a resume of large publications holds one such page at a time. @default 262_144
   */
  replayPageBytes?: number;
  /** Where contained faults are reported (a batch that cannot be encoded, a write that threw). */
  logger?: Pick<Logger, 'error'>;
}

/** A publication's size before it has been seen: small, so the first page stays small. */
const FIRST_GUESS_BYTES = 16_384;

/**
 * The Hub: which connection on this node listens to which topic, and the path of a publication
 * from the broker to those connections. Publications arriving in one tick are batched per topic
 * and encoded once per transport; the {@link Ticker} then writes each connection's queue once.
 */
export class Hub {
  readonly #ticker: Ticker;
  readonly #broker: Broker;
  readonly #metrics: Metrics;
  readonly #pageSize: number;
  readonly #pageBytes: number;
  /** Running average of a replayed publication's encoded size, to size the next page. */
  #publicationBytes = FIRST_GUESS_BYTES;
  readonly #logger: Pick<Logger, 'error'> | undefined;
  readonly #topics = new Map<string, Set<Subscription>>();
  /**
   * The broker's watch of each topic with local subscribers, from the first one's subscribe on:
   * every subscriber waits for it before it reads the topic's position, so none reads a position
   * the watch may not cover yet (on Redis: before this node's SUBSCRIBE landed, when an event
   * stored in between would reach neither its position nor its channel). One that failed is
   * forgotten: every subscriber that waited for it fails with it, and the next starts another.
   */
  readonly #watching = new Map<string, Promise<void>>();
  #pending = new Map<string, TopicBatch>();
  #spare = new Map<string, TopicBatch>();
  readonly #flushed: TopicBatch[] = [];
  readonly #signalListeners: ((signal: EphemeralPublication) => void)[] = [];
  readonly #resumeListeners: ((topic: string) => void)[] = [];
  /** Topics whose signals this node wants without a local subscriber (see {@link follow}). */
  readonly #followed = new Set<string>();

  constructor(options: HubOptions) {
    this.#broker = options.broker;
    this.#metrics = options.metrics;
    this.#pageSize = options.replayPageSize ?? 500;
    this.#pageBytes = options.replayPageBytes ?? 262_144;
    this.#logger = options.logger;
    const logger = this.#logger;
    this.#ticker = options.ticker ?? new Ticker();
    this.#ticker.use({
      before: () => this.#deliverPending(),
      after: () => this.#observeFanout(),
      onFault: (err, target) => {
        this.#metrics.faults.inc({ where: target ? 'connection' : 'fanout' });
        logger?.error({ err }, target ? 'write failed; connection closed' : 'fan-out step failed');
      },
    });
    this.#broker.onPublication((p) => this.#onPublication(p));
  }

  /** Store (unless ephemeral) and fan out a publication to every subscriber on every node. */
  async publish(topic: string, request: PublishRequest): Promise<PublishOutcome> {
    if (request.ephemeral) {
      await this.#broker.publishEphemeral({
        topic,
        data: request.data,
        from: request.from,
        ts: Date.now(),
        ...(request.kind === undefined ? {} : { kind: request.kind }),
      });
      this.#metrics.publications.inc({ kind: 'ephemeral' });
      return { ephemeral: true };
    }
    const result = await this.#broker.appendAndPublish(topic, {
      data: request.data,
      from: request.from,
      ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    });
    if (!result.duplicate) this.#metrics.publications.inc({ kind: 'stored' });
    const { epoch, offset, ts } = result.publication;
    return { ephemeral: false, epoch, offset, ts, duplicate: result.duplicate };
  }

  /**
   * Subscribe `outlet` to `topic`. With `since`, every publication after that position is
   * replayed first when history still holds it (`recovered: true`); otherwise the outlet is told
   * `recovered: false` with the current position. The replay is read a page at a time and paced
   * by the connection draining, so a client that stops reading holds one page and its budget,
   * never the whole history. Live publications that arrive meanwhile are buffered and written
   * after the replay, without duplicates. Resolves to null if the outlet closed before the
   * subscription was in sync.
   */
  async subscribe(outlet: Outlet, topic: string, id?: number, since?: Position): Promise<Subscription | null> {
    const sub = new Subscription(outlet, topic);
    let subs = this.#topics.get(topic);
    if (!subs) this.#topics.set(topic, (subs = new Set()));
    subs.add(sub);
    this.#metrics.subscriptions.inc();
    try {
      await this.#watch(topic);
      const start = await this.#start(topic, since);
      const { position, recovered } = start;
      if (outlet.closed || sub.closed) {
        this.unsubscribe(sub);
        return null;
      }
      sub.epoch = position.epoch;
      sub.last = recovered && since ? since.offset : position.offset;
      const replayed = recovered && since ? position.offset - since.offset : 0;
      outlet.subscribed({ id, topic, ...position, recovered, replayed });
      if (since) this.#metrics.resumes.inc({ outcome: recovered ? 'recovered' : 'reset' });
      if (start.page) await this.#replay(sub, start.page, position);
      // Live publications that arrived during the replay; drain until none are left behind.
      for (let buffered = sub.takeBuffer(); buffered.length > 0; buffered = sub.takeBuffer())
        await sub.replay(buffered);
      if (outlet.closed || sub.closed) {
        this.unsubscribe(sub);
        return null;
      }
      if (since) for (const listener of this.#resumeListeners) listener(topic);
      return sub;
    } catch (err) {
      this.unsubscribe(sub);
      throw err;
    }
  }

  /** The broker's watch of `topic` for its local subscribers: started by the first (see #watching). */
  #watch(topic: string): Promise<void> {
    let watching = this.#watching.get(topic);
    if (watching === undefined) {
      const started = this.#broker.watch(topic);
      this.#watching.set(topic, started);
      started.catch(() => {
        if (this.#watching.get(topic) === started) this.#watching.delete(topic);
      });
      watching = started;
    }
    return watching;
  }

  /**
   * Where a subscriber resuming from `since` starts: whether history can fill the gap, and the
   * first page of it (checked to be contiguous, so a hole found now is a plain `recovered: false`).
   */
  async #start(
    topic: string,
    since: Position | undefined,
  ): Promise<{ recovered: boolean; position: Position; page?: StoredPublication[] }> {
    if (!since) return { recovered: true, position: await this.#broker.position(topic) };
    const page = await this.#broker.history(topic, since.offset, this.#pageLength());
    const position = { epoch: page.epoch, offset: page.latest };
    const inWindow = since.epoch === page.epoch && since.offset >= page.earliest - 1 && since.offset <= page.latest;
    if (!inWindow) return { recovered: false, position };
    if (since.offset === position.offset) return { recovered: true, position };
    if (!contiguous(page.publications, since.epoch, since.offset + 1)) return { recovered: false, position };
    return { recovered: true, position, page: page.publications };
  }

  /**
   * Write the replay up to `end` page by page: each page is written (waiting for the connection
   * to drain whenever it is congested) before the next is read. A hole found on a later page
   * (history trimmed under the replay) is never a silent partial replay: the subscriber is told
   * `recovered: false` with the position it continues from, as when an epoch changes.
   */
  async #replay(sub: Subscription, first: StoredPublication[], end: Position): Promise<void> {
    const outlet = sub.outlet;
    let page = first;
    for (;;) {
      const { count, bytes } = await sub.replay(page);
      this.#metrics.replayed.inc(count);
      if (count > 0) this.#publicationBytes = Math.max(64, (this.#publicationBytes * 3 + bytes / count) / 4);
      if (sub.closed || outlet.closed || sub.last >= end.offset) return;
      const next = sub.last + 1;
      page = [];
      const read = await this.#broker.history(sub.topic, next - 1, this.#pageLength());
      if (sub.closed || outlet.closed) return;
      if (read.epoch === end.epoch && contiguous(read.publications, end.epoch, next) && read.publications.length > 0) {
        page = read.publications.filter((p) => p.offset <= end.offset);
        continue;
      }
      // History moved on under the replay: continue from where it now stands, saying so.
      sub.epoch = read.epoch;
      sub.last = read.latest;
      outlet.subscribed({
        id: undefined,
        topic: sub.topic,
        epoch: read.epoch,
        offset: read.latest,
        recovered: false,
        replayed: 0,
      });
      return;
    }
  }

  /** Publications per replay page: about `replayPageBytes` of them, from the sizes seen so far. */
  #pageLength(): number {
    return Math.max(1, Math.min(this.#pageSize, Math.floor(this.#pageBytes / this.#publicationBytes)));
  }

  unsubscribe(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    const subs = this.#topics.get(sub.topic);
    if (!subs?.delete(sub)) return;
    this.#metrics.subscriptions.dec();
    if (sub.lastWriteAt > 0 && sub.topic.startsWith(JOB_TOPIC_PREFIX))
      this.#metrics.jobWatchLongestSilenceSeconds.observe(sub.longestGapMs / 1000);
    if (subs.size === 0) {
      this.#topics.delete(sub.topic);
      // A watch that failed was never the broker's to end.
      const watching = this.#watching.get(sub.topic);
      if (watching === undefined) return;
      this.#watching.delete(sub.topic);
      void watching.then(
        () => this.#broker.unwatch(sub.topic).catch(() => {}),
        () => {},
      );
    }
  }

  /**
   * End every local subscription to `topic` that rests on `member`'s rights, telling each client
   * `code` (the member was removed from a conversation, say). Others on the topic are untouched.
   */
  revoke(topic: string, member: string, code: ErrorCode): number {
    let ended = 0;
    for (const sub of [...(this.#topics.get(topic) ?? [])]) {
      if (sub.outlet.subjectFor(topic) !== member) continue;
      this.unsubscribe(sub);
      sub.outlet.revoked(topic, code);
      ended++;
    }
    return ended;
  }

  /**
   * Hear every signal (a publication with a `kind`) that reaches this node, before it is
   * delivered: how a node learns of a change made on another node (a member removed). Only
   * topics with a local subscriber, or followed, reach the node.
   */
  /**
   * Hear every resumed subscription once it is in sync (a client back from a reconnect): what it
   * missed of history was replayed, but not the ephemeral updates (job ticks) of its absence.
   */
  onResume(listener: (topic: string) => void): void {
    this.#resumeListeners.push(listener);
  }

  onSignal(listener: (signal: EphemeralPublication) => void): void {
    this.#signalListeners.push(listener);
  }

  /**
   * Hear `topic`'s signals while no local connection subscribes to it (a member's presence on a
   * conversation is held here: its removal, made on another node, must reach this one).
   */
  follow(topic: string): void {
    if (this.#followed.has(topic)) return;
    this.#followed.add(topic);
    void this.#broker.watch(topic).catch(() => {});
  }

  /** Stop following `topic` (see {@link follow}). */
  unfollow(topic: string): void {
    if (!this.#followed.delete(topic)) return;
    void this.#broker.unwatch(topic).catch(() => {});
  }

  /**
   * A job watcher is written to: its gap goes to the gap histogram and its longest silence is
   * kept (observed when it leaves). Its first write after subscribing within a second of the
   * job's creation (a watcher that came with the 202) is the first-event latency.
   */
  #observeWatcher(sub: Subscription, topic: string, now: number): void {
    if (sub.lastWriteAt > 0) {
      const gap = now - sub.lastWriteAt;
      this.#metrics.jobWatchGapSeconds.observe(gap / 1000);
      if (gap > sub.longestGapMs) sub.longestGapMs = gap;
      return;
    }
    const created = jobCreatedAt(topic.slice(JOB_TOPIC_PREFIX.length));
    const lag = Date.now() - (now - sub.subscribedAt) - created;
    if (created > 0 && lag >= 0 && lag < 1000)
      this.#metrics.jobFirstEventSeconds.observe((Date.now() - created) / 1000);
  }

  /** Local subscribers per topic, for an operator's view of the busiest topics. */
  *subscriberCounts(): Generator<[topic: string, subscribers: number]> {
    for (const [topic, subs] of this.#topics) yield [topic, subs.size];
  }

  /** Number of local subscribers of a topic. */
  subscriberCount(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  #onPublication(p: Publication): void {
    const local = this.#topics.has(p.topic);
    if (!local && !this.#followed.has(p.topic)) return;
    if (!isStored(p) && p.kind !== undefined) for (const listener of this.#signalListeners) listener(p);
    if (!local) return;
    let batch = this.#pending.get(p.topic);
    if (!batch) this.#pending.set(p.topic, (batch = new TopicBatch(p.topic)));
    batch.add(p);
    this.#ticker.arm();
  }

  #deliverPending(): void {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = this.#spare;
    let deliveries = 0;
    const now = performance.now();
    for (const batch of pending.values()) {
      const subs = this.#topics.get(batch.topic);
      if (!subs) continue;
      // For job topics, measure each watcher's silence: the cadence guarantee, observed.
      const gaps = batch.topic.startsWith(JOB_TOPIC_PREFIX) ? this.#metrics.jobWatchGapSeconds : null;
      try {
        for (const sub of subs) {
          if (gaps && !sub.syncing) this.#observeWatcher(sub, batch.topic, now);
          sub.deliver(batch);
          sub.lastWriteAt = now;
        }
      } catch (err) {
        // A batch that cannot be encoded (input the door should have refused) is dropped for
        // this topic alone: the other topics of the tick are still delivered.
        this.#metrics.faults.inc({ where: 'fanout' });
        this.#logger?.error({ err, topic: batch.topic }, 'batch dropped: it could not be encoded');
        continue;
      }
      deliveries += subs.size * batch.publications.length;
      this.#flushed.push(batch);
    }
    pending.clear();
    this.#spare = pending;
    this.#metrics.deliveries.inc(deliveries);
  }

  /**
   * Deliver one control message (a presence diff) to `outlets` by the publications' path: encoded
   * once per codec, queued on each connection against its budget, written at the end of the tick.
   * Returns how many outlets it was queued for.
   */
  fanOut(outlets: Iterable<Pick<Outlet, 'codec' | 'push' | 'closed'>>, message: ServerMessage): number {
    let encoded: Map<PublicationCodec, Buffer> | undefined;
    let sent = 0;
    for (const o of outlets) {
      if (o.closed) continue;
      encoded ??= new Map();
      let bytes = encoded.get(o.codec);
      if (!bytes) encoded.set(o.codec, (bytes = o.codec.message(message)));
      o.push(bytes);
      sent++;
    }
    return sent;
  }

  #observeFanout(): void {
    if (this.#flushed.length === 0) return;
    const now = performance.now();
    for (const batch of this.#flushed) this.#metrics.fanoutSeconds.observe((now - batch.acceptedAt) / 1000);
    this.#flushed.length = 0;
  }
}

/** Whether `publications` run without a hole from `from` within `epoch`. */
function contiguous(publications: readonly StoredPublication[], epoch: string, from: number): boolean {
  let next = from;
  for (const p of publications) {
    if (p.offset !== next || p.epoch !== epoch) return false;
    next++;
  }
  return true;
}
