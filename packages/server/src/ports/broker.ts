import { Refusal } from '../errors.js';
import type { Json, Position, SignalKind } from '@inloop/protocol';
import type { JobRecord } from './job-store.js';

/** A publication as stored in a topic's history. */
export interface StoredPublication {
  topic: string;
  epoch: string;
  offset: number;
  data: Json;
  /** Publisher identity: token subject or `key:<name>`. */
  from: string;
  /** Acceptance time, ms since the epoch; non-decreasing within a topic. */
  ts: number;
}

/**
 * A publication that is delivered live and never stored: no epoch, no offset. With a `kind` it
 * is a signal (typing, receipt, draft) rather than app data.
 */
export interface EphemeralPublication {
  topic: string;
  data: Json;
  from: string;
  ts: number;
  kind?: SignalKind;
}

export type Publication = StoredPublication | EphemeralPublication;

/** Whether a publication was stored (has a position). */
export function isStored(p: Publication): p is StoredPublication {
  return (p as StoredPublication).offset !== undefined;
}

export interface AppendInput {
  data: Json;
  from: string;
  idempotencyKey?: string;
  /**
   * An event of a job's topic, given with the job's record as it stands with the event, to a
   * broker that keeps job records itself ({@link Broker.savesJobs}). Such a broker appends the
   * event and saves the record (at the event's position) in one atomic step, and only if the
   * stored record is still at `job.lastOffset` (the position the change was read at): otherwise
   * nothing is written and it throws, so a writer holding a stale view (an old lease, a fence
   * that moved on) can never add an event or overwrite the record.
   */
  job?: JobRecord;
  /**
   * With `job`, to a broker that {@link Broker.insertsJobs}: the job has no record yet (its first
   * event, a creation without an idempotency key). The step stores the record as
   * `JobStore.insert` would, indexes and all, with the event; it throws if a record exists.
   */
  newJob?: boolean;
  /**
   * With `newJob`, to a broker that {@link Broker.queuesNewJobs}: the job queue is one the broker
   * queues into (`JobQueue.queuedByBroker`), so the step also queues and announces the job.
   */
  queueJob?: boolean;
  /**
   * With a job's terminal event, when the job queue is one the broker queues into
   * (`JobQueue.queuedByBroker`): the step may also take the job out of the queue, as the queue's
   * `completeAndTake` (with `takeNext`, under `token`, for `leaseMs`) or `remove` would, and says
   * so ({@link AppendResult.endedInQueue}); a broker that cannot (Redis Cluster) leaves it to
   * the queue.
   */
  endJob?: { token: string | null; leaseMs: number; takeNext: boolean };
}

export interface AppendResult {
  publication: StoredPublication;
  /** True when the idempotency key matched an earlier append: nothing new was stored or sent. */
  duplicate: boolean;
  /**
   * With a job's terminal event ({@link AppendInput.job}), from a broker that can tell: whether a
   * stream of the job was ever opened. False spares the node looking for the job's open streams
   * to end them (a call to a shared store per finished job); left out, they are looked for.
   */
  streamsOpened?: boolean;
  /**
   * With a job's event ({@link AppendInput.job}), from a broker that saves the record in the same
   * step (`savesJobs`) and can tell: the record as it was saved, JSON at the event's position.
   * Spares the node serializing the record again to keep a copy of it.
   */
  record?: string;
  /** With {@link AppendInput.endJob}: the step took the job out of the queue. */
  endedInQueue?: boolean;
  /**
   * With `endJob`'s `takeNext`: the next job taken under the token (its id), or null when none
   * was waiting; absent when none was looked for (the token no longer held the job).
   */
  nextJob?: string | null;
}

/**
 * A window of history. `earliest` is the lowest offset still held (or `latest + 1` when none is),
 * so a subscriber at offset `n` can be fully recovered iff `epoch` matches and
 * `earliest - 1 <= n <= latest`.
 */
export interface HistoryPage {
  epoch: string;
  earliest: number;
  latest: number;
  publications: StoredPublication[];
}

/** Thrown by `appendAndPublish` when an idempotency key is reused with another payload. */
export class IdempotencyConflictError extends Refusal {
  constructor() {
    super('idempotency_conflict', 'the idempotency key was used with a different payload');
    this.name = 'IdempotencyConflictError';
  }
}

/**
 * The topic port: history, offsets and fan-out between nodes. Implementations must guarantee:
 * - **Atomic append**: a stored publication gets the next offset of its topic (1, 2, 3 ...) and is
 *   durable before the returned promise resolves (an acknowledged publication survives a crash of
 *   the process).
 * - **Ordering**: every node's `onPublication` handler sees a topic's stored publications in
 *   offset order. A node that might have missed some (a broken link to a shared backend) must
 *   notice the gap by offset and repair it from `history`.
 * - **Epochs**: a topic's epoch changes whenever its history may have been lost; offsets are
 *   only comparable within an epoch.
 * - **Idempotency**: the same `idempotencyKey` on the same topic within `idempotencyTtlMs` returns
 *   the original publication with `duplicate: true`; with a different payload it throws
 *   {@link IdempotencyConflictError}.
 * - **Bounds**: history is trimmed to at most `maxCount` publications and `maxAgeMs` of age per topic.
 * - **Reads write nothing**: `history`, `position` and `watch` of a topic that holds nothing store
 *   nothing (a shared backend may write a short-lived marker for a watched topic, so that every
 *   node agrees on its epoch). The epoch such a topic reports is the one its first append takes,
 *   at least while this node watches it.
 * - **Retention**: what has expired is removed, in small steps: publications past their bounds
 *   (from the head of their topic when it is appended to, or with their topic), idempotency keys
 *   past their TTL, and topics with nothing left (no publication within their `maxAgeMs`, or none
 *   ever, and no idempotency key alive), by {@link Broker.sweep}. A topic watched on this node is
 *   never removed under its subscribers. A removed topic used again starts a **new epoch**, so a
 *   client resuming with a position from before is told `recovered: false`.
 *   A backend whose entries expire by themselves (Redis key TTLs) may remove nothing in `sweep`.
 */
export interface Broker {
  /**
   * True when this broker also keeps the job records (same backend as the {@link JobStore}):
   * a job event is appended with its record in one step (see {@link AppendInput.job}).
   */
  readonly savesJobs?: boolean;
  /** True when a job's first event may also insert its record ({@link AppendInput.newJob}). */
  readonly insertsJobs?: boolean;
  /**
   * True when a job's first event that inserts it ({@link AppendInput.newJob}) can also put it in
   * the job queue and announce it, when asked ({@link AppendInput.queueJob}; Redis on one server,
   * with Inloop's own queue): the service then makes no `JobQueue.add` of its own for it.
   */
  readonly queuesNewJobs?: boolean;
  appendAndPublish(topic: string, input: AppendInput): Promise<AppendResult>;
  /** Deliver to every node's subscribers without storing. */
  publishEphemeral(publication: EphemeralPublication): Promise<void>;
  /** Up to `limit` publications with offset > `after`, in order, plus the bounds of what is held. */
  history(topic: string, after: number, limit: number): Promise<HistoryPage>;
  /** The topic's current epoch and last offset (0 for a topic with no publications yet). */
  position(topic: string): Promise<Position>;
  /** This node wants publications of `topic` (first local subscriber). */
  watch(topic: string): Promise<void>;
  /** This node no longer wants publications of `topic` (last local subscriber left). */
  unwatch(topic: string): Promise<void>;
  /** The single handler receiving publications this node watches. */
  onPublication(handler: (publication: Publication) => void): void;
  /**
   * One short step of cleanup (see **Retention** above): remove what has expired, looking at no
   * more than about `limit` entries. Resolves to true when it stopped at `limit` and more may be
   * due, so the caller can spread a large cleanup over many turns of the event loop.
   */
  sweep(limit: number): Promise<boolean>;
  /** Whether the backend is usable (for `/readyz`). */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Bounds shared by all broker implementations. */
export interface BrokerOptions {
  /** Most publications kept per topic. @default 1000 */
  maxCount: number;
  /** Oldest publication kept, in ms. @default 86_400_000 (24 h) */
  maxAgeMs: number;
  /** How long an idempotency key is remembered, in ms (at least 120 s). @default 300_000 */
  idempotencyTtlMs: number;
  /**
   * Other bounds for topics under a prefix (conversations keep their messages longer than a
   * live feed does). The first matching prefix wins. @default []
   */
  retention?: readonly RetentionRule[];
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
  /**
   * The node's write scheduler. A broker that releases its publications from a step of its own
   * queued with `setImmediate` (the embedded group commit) calls `follow()` as it queues the
   * step, so the tick that writes them to the subscribers runs right behind it, in the same turn
   * of the event loop.
   */
  scheduler?: WriteFollower;
}

/**
 * What a broker tells when it queues a step that releases publications (see
 * `BrokerOptions.scheduler`): the node's ticker, which then runs its tick right behind the step.
 */
export interface WriteFollower {
  follow(): void;
}

/** History bounds for the topics whose names start with `prefix`. */
export interface RetentionRule {
  prefix: string;
  maxCount: number;
  maxAgeMs: number;
}

/** The history bounds that apply to `topic`. */
export function boundsFor(options: BrokerOptions, topic: string): { maxCount: number; maxAgeMs: number } {
  for (const rule of options.retention ?? []) if (topic.startsWith(rule.prefix)) return rule;
  return options;
}
