import { JOB_TOPIC_PREFIX, type ErrorCode, type Json, type Position, type SignalKind } from '@inloop/protocol';
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
import type { Outlet } from './outlet.js';
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
  /** Publications read per history query while replaying. @default 500 */
  replayPageSize?: number;
  /** Where contained faults are reported (a batch that cannot be encoded, a write that threw). */
  logger?: Pick<Logger, 'error'>;
}

/**
 * The Hub: which connection on this node listens to which topic, and the path of a publication
 * from the broker to those connections. Publications arriving in one tick are batched per topic
 * and encoded once per transport; the {@link Ticker} then writes each connection's queue once.
 */
export class Hub {
  readonly ticker: Ticker;
  readonly #broker: Broker;
  readonly #metrics: Metrics;
  readonly #pageSize: number;
  readonly #logger: Pick<Logger, 'error'> | undefined;
  readonly #topics = new Map<string, Set<Subscription>>();
  #pending = new Map<string, TopicBatch>();
  #flushed: TopicBatch[] = [];
  readonly #signalListeners: ((signal: EphemeralPublication) => void)[] = [];
  /** Topics whose signals this node wants without a local subscriber (see {@link follow}). */
  readonly #followed = new Set<string>();

  constructor(options: HubOptions) {
    this.#broker = options.broker;
    this.#metrics = options.metrics;
    this.#pageSize = options.replayPageSize ?? 500;
    this.#logger = options.logger;
    const logger = this.#logger;
    this.ticker = new Ticker(
      () => this.#deliverPending(),
      () => this.#observeFanout(),
      (err, target) => {
        this.#metrics.faults.inc({ where: target ? 'connection' : 'fanout' });
        logger?.error({ err }, target ? 'write failed; connection closed' : 'fan-out step failed');
      },
    );
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
   * `recovered: false` with the current position. Live publications that arrive meanwhile are
   * buffered and written after the replay, without duplicates. Resolves to null if the outlet
   * closed before the subscription was in sync.
   */
  async subscribe(outlet: Outlet, topic: string, id?: number, since?: Position): Promise<Subscription | null> {
    const sub = new Subscription(outlet, topic);
    let subs = this.#topics.get(topic);
    const first = !subs;
    if (!subs) this.#topics.set(topic, (subs = new Set()));
    subs.add(sub);
    this.#metrics.subscriptions.inc();
    try {
      if (first) await this.#broker.watch(topic);
      const { replay, recovered, position } = await this.#catchUp(topic, since);
      if (outlet.closed || sub.closed) {
        this.unsubscribe(sub);
        return null;
      }
      sub.epoch = position.epoch;
      sub.last = recovered && since ? since.offset : position.offset;
      outlet.subscribed({ id, topic, ...position, recovered, replayed: replay.length });
      if (since) this.#metrics.resumes.inc({ outcome: recovered ? 'recovered' : 'reset' });
      this.#metrics.replayed.inc(await sub.replay(replay));
      // Live publications that arrived during the replay; drain until none are left behind.
      for (let buffered = sub.takeBuffer(); buffered.length > 0; buffered = sub.takeBuffer())
        await sub.replay(buffered);
      if (outlet.closed || sub.closed) {
        this.unsubscribe(sub);
        return null;
      }
      return sub;
    } catch (err) {
      this.unsubscribe(sub);
      throw err;
    }
  }

  /** Read what a subscriber resuming from `since` missed, if history can fill the gap. */
  async #catchUp(
    topic: string,
    since: Position | undefined,
  ): Promise<{ replay: StoredPublication[]; recovered: boolean; position: Position }> {
    if (!since) return { replay: [], recovered: true, position: await this.#broker.position(topic) };
    let page = await this.#broker.history(topic, since.offset, this.#pageSize);
    const position = { epoch: page.epoch, offset: page.latest };
    const inWindow = since.epoch === page.epoch && since.offset >= page.earliest - 1 && since.offset <= page.latest;
    if (!inWindow) return { replay: [], recovered: false, position };
    const replay: StoredPublication[] = [];
    let next = since.offset + 1;
    for (;;) {
      for (const p of page.publications) {
        // A hole means history was trimmed under us: never hand out a silent partial replay.
        if (p.offset !== next || p.epoch !== since.epoch) return { replay: [], recovered: false, position };
        replay.push(p);
        next++;
      }
      if (next > position.offset || page.publications.length === 0) break;
      page = await this.#broker.history(topic, next - 1, this.#pageSize);
    }
    if (next <= position.offset) return { replay: [], recovered: false, position };
    return { replay, recovered: true, position };
  }

  unsubscribe(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    const subs = this.#topics.get(sub.topic);
    if (!subs?.delete(sub)) return;
    this.#metrics.subscriptions.dec();
    if (subs.size === 0) {
      this.#topics.delete(sub.topic);
      void this.#broker.unwatch(sub.topic).catch(() => {});
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
    this.ticker.arm();
  }

  #deliverPending(): void {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    let deliveries = 0;
    const now = performance.now();
    for (const batch of pending.values()) {
      const subs = this.#topics.get(batch.topic);
      if (!subs) continue;
      // For job topics, measure each watcher's silence: the cadence guarantee, observed.
      const gaps = batch.topic.startsWith(JOB_TOPIC_PREFIX) ? this.#metrics.jobWatchGapSeconds : null;
      try {
        for (const sub of subs) {
          if (gaps && !sub.syncing && sub.lastWriteAt > 0) gaps.observe((now - sub.lastWriteAt) / 1000);
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
    this.#metrics.deliveries.inc(deliveries);
  }

  #observeFanout(): void {
    if (this.#flushed.length === 0) return;
    const now = performance.now();
    for (const batch of this.#flushed) this.#metrics.fanoutSeconds.observe((now - batch.acceptedAt) / 1000);
    this.#flushed = [];
  }
}
