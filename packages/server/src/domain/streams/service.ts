import {
  conversationTopic,
  isTerminal,
  STREAM_TOPIC_PREFIX,
  streamKey,
  streamTopicOf,
  type Json,
  type JobStatus,
  type StreamEndReason,
  type StreamRef,
  type StreamTextReply,
} from '@inloop/protocol';
import type { Logger } from 'pino';
import { Refusal } from '../../errors.js';
import type { EphemeralPublication } from '../../ports/broker.js';
import type { StreamRead, StreamStore } from '../../ports/stream-store.js';
import type { Hub } from '../hub.js';
import { StreamWatchers, type StreamOutlet, type StreamWatch } from './watchers.js';

export interface StreamLimits {
  /** Longest stream, in UTF-16 code units. @default 1_000_000 */
  maxStreamChars: number;
  /** Largest piece read or sent at once. @default 262_144 */
  maxStreamPageChars: number;
  /** Streams one job may have. @default 16 */
  maxStreamsPerJob: number;
}

/** What the service needs to know of jobs: whether one exists, and how it ended. */
export interface StreamJobs {
  status(id: string): Promise<JobStatus | null>;
  /** Cancel the job (its worker is told); a job that already ended is left alone. */
  cancel(id: string): Promise<void>;
}

export interface StreamServiceOptions extends StreamLimits {
  store: StreamStore;
  hub: Hub;
  jobs: StreamJobs;
  logger?: Pick<Logger, 'error'>;
}

/** How a job's open streams end with it. */
export const endReasonOf = (status: JobStatus): StreamEndReason =>
  status === 'succeeded' ? 'finished' : status === 'cancelled' ? 'stopped' : 'failed';

/** The signal an append or an end travels as, between nodes (compact: one per append). */
interface StreamSignal {
  /** The stream's key. */
  s: string;
  /** An append: its start and text. */
  f?: number;
  t?: string;
  /** An end: its reason and the stream's length. */
  e?: StreamEndReason;
  l?: number;
  /** A member removed from the owner (a conversation): its watches of the owner's streams end. */
  r?: string;
}

/**
 * Streams: appends go to the store (which coalesces them into chunks) and then out as one signal
 * each on the owner's node-internal topic (`stream:job:<id>`), through the hub and the broker,
 * so watchers on every node hear them at once; {@link StreamWatchers} turns them into each
 * watcher's pieces. Ends, stops and reads are here too; the transports only check rights.
 */
export class StreamService {
  readonly #o: StreamServiceOptions;
  readonly watchers: StreamWatchers;

  constructor(options: StreamServiceOptions) {
    this.#o = options;
    const { hub } = options;
    this.watchers = new StreamWatchers({
      read: (key, from, max) => this.#read(key, from, max),
      follow: (owner) => hub.follow(STREAM_TOPIC_PREFIX + owner),
      unfollow: (owner) => hub.unfollow(STREAM_TOPIC_PREFIX + owner),
      pageChars: options.maxStreamPageChars,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    hub.onSignal((p) => this.#heard(p));
  }

  /**
   * Append `text` to a stream (creating it). Refused: `bad_request` (empty, or a lone surrogate
   * anywhere), `stream_ended`, `stream_too_long`, `too_many_streams`, and `forbidden` when a
   * message's stream was started by another `writer` (a member may not write into another
   * member's reply by knowing its clientId). The caller has checked the writer's right (a lease,
   * a member).
   */
  async append(ref: StreamRef, text: string, writer?: string): Promise<{ from: number; to: number }> {
    if (text.length === 0) throw new Refusal('bad_request', 'nothing to append');
    if (hasLoneSurrogate(text))
      throw new Refusal('bad_request', 'an append may not hold a lone surrogate (nor start or end inside a pair)');
    const key = streamKey(ref);
    const owner = streamTopicOf(ref);
    const range = await this.#o.store.append(owner, key, text, {
      maxChars: this.#o.maxStreamChars,
      // A conversation's streams are its drafts, bounded per member already (maxDraftsPerMember).
      maxStreamsPerOwner: 'job' in ref ? this.#o.maxStreamsPerJob : Number.MAX_SAFE_INTEGER,
      ...(writer === undefined ? {} : { writer }),
    });
    this.#signal(owner, { s: key, f: range.from, t: text }, writer);
    return range;
  }

  /** End a stream; `changed` is false when it had already ended (then nothing is told). */
  async end(
    ref: StreamRef,
    reason: StreamEndReason,
  ): Promise<{ length: number; end: StreamEndReason; changed: boolean }> {
    const key = streamKey(ref);
    const owner = streamTopicOf(ref);
    const state = await this.#o.store.end(owner, key, reason);
    if (state.changed) this.#signal(owner, { s: key, e: state.end!, l: state.length });
    return { length: state.length, end: state.end!, changed: state.changed };
  }

  /**
   * A message was sent by `writer`: its stream, if that member streamed it, ends `finished` (no
   * stream is created; another member's stream of the same clientId is left alone).
   */
  async finish(ref: StreamRef, writer: string): Promise<void> {
    const state = await this.#o.store.read(streamKey(ref), 0, 0);
    if (state && state.end === null && (state.writer ?? writer) === writer) await this.end(ref, 'finished');
  }

  /** End every open stream of a job that ended (its status says how). */
  async endJob(id: string, status: JobStatus): Promise<void> {
    const owner = `job:${id}`;
    const reason = endReasonOf(status);
    for (const key of await this.#o.store.openStreams(owner)) {
      const name = key.slice(owner.length + 1);
      await this.end({ job: id, name }, reason);
    }
  }

  /**
   * Stop: the stream ends `stopped` with the text it has, and a job is cancelled so its worker
   * stops. A stream that already ended stays as it was.
   */
  async stop(ref: StreamRef): Promise<{ length: number; end: StreamEndReason }> {
    if ('job' in ref && (await this.#o.jobs.status(ref.job)) === null) throw new Refusal('not_found', 'no such job');
    if ('conversation' in ref && !(await this.#o.store.read(streamKey(ref), 0, 0)))
      throw new Refusal('not_found', 'no such stream');
    // Cancel first: by the time an append is refused, the worker's signal has been aborted (in
    // process) or its next report's reply says cancelRequested (remote).
    if ('job' in ref) await this.#o.jobs.cancel(ref.job);
    return this.end(ref, 'stopped');
  }

  /** The text of a stream from `from` (one page), as `GET .../streams/...` answers it. */
  async read(ref: StreamRef, from: number): Promise<StreamTextReply> {
    const key = streamKey(ref);
    const r = await this.#read(key, from, this.#o.maxStreamPageChars);
    if (!r) throw new Refusal('not_found', 'no such stream');
    return { stream: key, from: r.from, to: r.to, text: r.text, length: r.length, end: r.end };
  }

  /**
   * Watch a stream from `from`: `stream.text` now, then deltas and the end (see
   * {@link StreamWatchers}). `subject` is the member the watch's right rests on, so that its
   * removal from a conversation ends the watch ({@link revoke}).
   */
  watch(
    outlet: StreamOutlet,
    ref: StreamRef,
    from: number,
    id?: number,
    subject?: string | null,
  ): Promise<StreamWatch> {
    return this.watchers.watch(outlet, streamKey(ref), streamTopicOf(ref), from, id, subject ?? null);
  }

  /**
   * `member` was removed from `conversation`: its watches of the conversation's message streams
   * end (`forbidden`) on every node, told as a signal on the streams' topic as appends are.
   */
  revoke(conversation: string, member: string): void {
    const owner = conversationTopic(conversation);
    this.#signal(owner, { s: owner, r: member });
  }

  /**
   * The store's read, where a job that exists but has not written this stream yet has an empty
   * one: open while the job lives, ended with it after. A watcher may join before the first append.
   */
  async #read(key: string, from: number, max: number): Promise<StreamRead | null> {
    const r = await this.#o.store.read(key, from, max);
    if (r || !key.startsWith('job:')) return r;
    const id = key.slice(4, key.indexOf('/'));
    const status = await this.#o.jobs.status(id);
    if (status === null) return null;
    return { from: 0, to: 0, text: '', length: 0, end: isTerminal(status) ? endReasonOf(status) : null };
  }

  #signal(owner: string, signal: StreamSignal, from = 'inloop'): void {
    this.#o.hub
      .publish(STREAM_TOPIC_PREFIX + owner, { data: signal as unknown as Json, from, ephemeral: true, kind: 'stream' })
      .catch((err: unknown) => this.#o.logger?.error({ err, stream: signal.s }, 'stream signal failed'));
  }

  #heard(p: EphemeralPublication): void {
    if (p.kind !== 'stream' || !p.topic.startsWith(STREAM_TOPIC_PREFIX)) return;
    const s = p.data as unknown as StreamSignal;
    if (typeof s?.s !== 'string') return;
    if (typeof s.r === 'string') this.watchers.revoke(p.topic.slice(STREAM_TOPIC_PREFIX.length), s.r, 'forbidden');
    else if (typeof s.t === 'string' && typeof s.f === 'number')
      this.watchers.heard(s.s, { from: s.f, to: s.f + s.t.length, text: s.t });
    else if (typeof s.e === 'string' && typeof s.l === 'number') this.watchers.heard(s.s, { reason: s.e, length: s.l });
  }

  /** Write every stream's tail (before a clean shutdown) and end the watches. */
  async close(): Promise<void> {
    this.watchers.close();
    await this.#o.store.flush();
  }
}

/** Whether `text` starts with a low surrogate or ends with a high one. */
/** A surrogate not part of a pair: half a pair at either end, or a lone one anywhere between. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
