import type { StreamEndReason } from '@inloop/protocol';
import type { Sweepable } from '../domain/retention.js';

/** A stream's length now and how it ended (`null` while open). */
export interface StreamState {
  length: number;
  end: StreamEndReason | null;
  /** Who wrote it, when its first append named a writer (a message's member); else null. */
  writer?: string | null;
}

/** A piece of a stream's text read from the store, with the stream's state at the time. */
export interface StreamRead extends StreamState {
  from: number;
  to: number;
  text: string;
}

/** Limits an append is checked against, atomically with it. */
export interface AppendLimits {
  /** Longest stream, in UTF-16 code units: past it the append is refused (`stream_too_long`). */
  maxChars: number;
  /** Most streams one owner may have: a new stream past it is refused (`too_many_streams`). */
  maxStreamsPerOwner: number;
  /**
   * Who appends (a message stream's member). The first append's writer owns the stream; an
   * append by another writer is refused (`forbidden`) and changes nothing.
   */
  writer?: string;
}

export interface StreamStoreOptions {
  /** Write an open stream's tail as a chunk after this long. @default 100 */
  flushMs?: number;
  /** ... or once the tail has this many characters. @default 16384 */
  chunkChars?: number;
  /** Streams of `job:` owners are removed this long after their last change. */
  jobTtlMs: number;
  /** Streams of other owners (conversation messages) are removed this long after their last change. */
  ttlMs: number;
}

/**
 * Where streams' text lives. A stream is named by its key (`<owner topic>/<name>`, see
 * `streamKey`); its text only grows, by appends, until it ends once.
 *
 * An implementation must guarantee:
 * - **Atomic, contiguous appends**: `append` gives each text the range `[length, length + n)` of
 *   its stream and makes it readable by `read` (on every node sharing the store) before it
 *   resolves; appends to one stream never interleave or leave a hole. A refused append (ended,
 *   too long, too many streams, another writer's) changes nothing.
 * - **One writer**: a stream created by an append naming a `writer` keeps it, checked
 *   atomically with every later append, and `read` returns it.
 * - **One end**: `end` ends an open stream with its reason and returns `changed: true` exactly
 *   once per stream; later appends are refused with `stream_ended`.
 * - **Storage by text, not by appends**: appends are coalesced into chunks (by time and size);
 *   a stream of n characters costs about n characters of storage plus a row per chunk.
 * - **Durability**: what `flush` (and the store's own timer) has written survives a restart; the
 *   unwritten tail of an open stream is at most `flushMs` of appends.
 * - **Retention**: `sweep` removes streams past their TTL after their last change.
 */
export interface StreamStore extends Sweepable {
  /** Append `text` (non-empty) to the stream `key` of `owner`, creating it open if new. */
  append(owner: string, key: string, text: string, limits: AppendLimits): Promise<{ from: number; to: number }>;
  /** End the stream (creating it empty when unknown). `changed` is false when it had already ended. */
  end(owner: string, key: string, reason: StreamEndReason): Promise<StreamState & { changed: boolean }>;
  /** The text of `key` from `from` (clamped to its length), at most `maxChars` of it; null when unknown. */
  read(key: string, from: number, maxChars: number): Promise<StreamRead | null>;
  /** The open streams of `owner` (to end them with their job). */
  openStreams(owner: string): Promise<string[]>;
  /** Write every unwritten tail now (before a clean shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
