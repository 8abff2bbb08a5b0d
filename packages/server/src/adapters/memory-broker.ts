import type { Position } from '@inloop/protocol';
import {
  boundsFor,
  IdempotencyConflictError,
  type AppendInput,
  type AppendResult,
  type Broker,
  type BrokerOptions,
  type HistoryPage,
  type StoredPublication,
} from '../ports/broker.js';
import { payloadDigest } from './epoch.js';
import { LocalFanout } from './local-fanout.js';
import { UnbornEpochs } from './unborn-epochs.js';

interface TopicState {
  epoch: string;
  last: number;
  lastTs: number;
  publications: StoredPublication[];
  keys: Map<string, { offset: number; digest: string; expiresAt: number }>;
}

/**
 * History in process memory: for tests and for nodes that need no durability. Everything is lost
 * on exit, and a restarted node gives every topic a new epoch, so resuming clients are told
 * `recovered: false` rather than handed a silent gap. A topic takes memory from its first append
 * until {@link sweep} finds it idle; reading one takes none.
 */
export class MemoryBroker extends LocalFanout implements Broker {
  readonly #topics = new Map<string, TopicState>();
  readonly #opts: Required<Omit<BrokerOptions, 'scheduler'>>;
  readonly #unborn = new UnbornEpochs();
  /** Where the last sweep stopped: each sweep goes on from there, a batch at a time. */
  #cursor: Iterator<[string, TopicState]> | null = null;

  constructor(options: BrokerOptions) {
    super();
    this.#opts = { now: Date.now, retention: [], ...options };
  }

  #state(topic: string): TopicState {
    let s = this.#topics.get(topic);
    if (!s) {
      s = { epoch: this.#unborn.epochOf(topic), last: 0, lastTs: 0, publications: [], keys: new Map() };
      this.#topics.set(topic, s);
      this.#unborn.born(topic);
    }
    return s;
  }

  #trim(topic: string, s: TopicState, now: number): void {
    const { maxCount, maxAgeMs } = boundsFor(this.#opts, topic);
    const cutoff = now - maxAgeMs;
    let drop = Math.max(0, s.publications.length - maxCount);
    while (drop < s.publications.length && s.publications[drop]!.ts < cutoff) drop++;
    if (drop > 0) s.publications.splice(0, drop);
    for (const [key, entry] of s.keys) if (entry.expiresAt <= now) s.keys.delete(key);
  }

  appendAndPublish(topic: string, input: AppendInput): Promise<AppendResult> {
    const now = this.#opts.now();
    const s = this.#state(topic);
    const digest = input.idempotencyKey === undefined ? undefined : payloadDigest(input.data);
    if (input.idempotencyKey !== undefined) {
      const seen = s.keys.get(input.idempotencyKey);
      if (seen && seen.expiresAt > now) {
        if (seen.digest !== digest) return Promise.reject(new IdempotencyConflictError());
        const stored = s.publications.find((p) => p.offset === seen.offset);
        const publication = stored ?? {
          topic,
          epoch: s.epoch,
          offset: seen.offset,
          data: input.data,
          from: input.from,
          ts: now,
        };
        return Promise.resolve({ publication, duplicate: true });
      }
    }
    const publication: StoredPublication = {
      topic,
      epoch: s.epoch,
      offset: ++s.last,
      data: input.data,
      from: input.from,
      ts: (s.lastTs = Math.max(now, s.lastTs)),
    };
    s.publications.push(publication);
    if (input.idempotencyKey !== undefined && digest !== undefined) {
      s.keys.set(input.idempotencyKey, {
        offset: publication.offset,
        digest,
        expiresAt: now + this.#opts.idempotencyTtlMs,
      });
    }
    this.#trim(topic, s, now);
    this.deliver(publication);
    return Promise.resolve({ publication, duplicate: false });
  }

  history(topic: string, after: number, limit: number): Promise<HistoryPage> {
    const s = this.#topics.get(topic);
    if (!s) return Promise.resolve({ epoch: this.#unborn.epochOf(topic), earliest: 1, latest: 0, publications: [] });
    this.#trim(topic, s, this.#opts.now());
    const earliest = s.publications[0]?.offset ?? s.last + 1;
    const start = Math.max(0, after + 1 - earliest);
    return Promise.resolve({
      epoch: s.epoch,
      earliest,
      latest: s.last,
      publications: s.publications.slice(start, start + limit),
    });
  }

  position(topic: string): Promise<Position> {
    const s = this.#topics.get(topic);
    return Promise.resolve(s ? { epoch: s.epoch, offset: s.last } : { epoch: this.#unborn.epochOf(topic), offset: 0 });
  }

  override watch(topic: string): Promise<void> {
    this.#unborn.watch(topic);
    return Promise.resolve();
  }

  override unwatch(topic: string): Promise<void> {
    this.#unborn.unwatch(topic);
    return Promise.resolve();
  }

  sweep(limit: number): Promise<boolean> {
    const now = this.#opts.now();
    this.#cursor ??= this.#topics.entries();
    for (let visited = 0; visited < limit; visited++) {
      const next = this.#cursor.next();
      if (next.done) {
        this.#cursor = null;
        return Promise.resolve(false);
      }
      const [topic, s] = next.value;
      this.#trim(topic, s, now);
      // Deleting the entry just visited leaves the Map iterator valid.
      if (s.publications.length === 0 && s.keys.size === 0 && !this.#unborn.watched(topic)) this.#topics.delete(topic);
    }
    return Promise.resolve(true);
  }

  ready(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Build an in-memory broker. */
export function createMemoryBroker(options: BrokerOptions): Broker {
  return new MemoryBroker(options);
}
