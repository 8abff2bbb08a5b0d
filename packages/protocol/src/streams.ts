import type { ErrorCode } from './errors.js';

/**
 * Streams on the wire: generated text (a model's answer, a transcript, a log) that belongs to a
 * job or to a conversation message and that watchers can join late and resume by position.
 *
 * Positions are character offsets counted in **UTF-16 code units** (JavaScript's `string.length`,
 * `slice` and `substring`), from 0. A piece of text always carries its range `[from, to)`, with
 * `to - from === text.length`. A writer may not split a surrogate pair across two appends (the
 * node refuses a lone surrogate), so every range boundary falls between whole characters.
 *
 * A watcher keeps one number, the offset it has (`0` for nothing). On every piece it receives it
 * keeps `text.slice(have - from)` when `from <= have < to` and ignores the rest: pieces never
 * overlap from the node, and this rule also absorbs the duplicates of a reconnect.
 */

/** Why a stream ended. A job's open streams end with it: `finished` on success, `failed` on failure, `stopped` on cancel. */
export const StreamEndReasons = ['finished', 'stopped', 'failed'] as const;
export type StreamEndReason = (typeof StreamEndReasons)[number];

/** Whether `value` is a stream end reason. */
export const isStreamEndReason = (value: unknown): value is StreamEndReason =>
  (StreamEndReasons as readonly unknown[]).includes(value);

const STREAM_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Whether `name` is a valid stream name for a job (`answer`, `log`, `transcript.en`): 1-64 of `A-Z a-z 0-9 _ . -`. */
export const isStreamName = (name: unknown): name is string => typeof name === 'string' && STREAM_NAME_RE.test(name);

/**
 * Which stream. A job has any number of named streams (at most `maxStreamsPerJob`); a
 * conversation message has one, named by the `clientId` the message will be sent with (the
 * `clientId` of its `conversation.draft` chunks): sending that message ends its stream `finished`.
 */
export type StreamRef = { job: string; name: string } | { conversation: string; message: string };

/**
 * A stream's key on the wire (`stream` in server messages): the topic of what it belongs to,
 * `/`, its name. `job:Jq3x/answer`, `conv:support-7/c-81f2`. Topic names never contain `/`.
 */
export function streamKey(ref: StreamRef): string {
  return 'job' in ref ? `job:${ref.job}/${ref.name}` : `conv:${ref.conversation}/${ref.message}`;
}

/** The topic whose read rights a stream follows: `job:<id>` or `conv:<id>`. */
export function streamTopicOf(ref: StreamRef): string {
  return 'job' in ref ? `job:${ref.job}` : `conv:${ref.conversation}`;
}

/**
 * Prefix of the node-internal topics that carry streams' appends between nodes
 * (`stream:job:<id>`): reserved, no client may publish or subscribe there.
 */
export const STREAM_TOPIC_PREFIX = 'stream:';

/** Parse a stream key back into its reference; null when malformed. */
export function parseStreamKey(key: string): StreamRef | null {
  const slash = key.indexOf('/');
  if (slash < 0) return null;
  const owner = key.slice(0, slash);
  const name = key.slice(slash + 1);
  if (owner.startsWith('job:') && isStreamName(name)) return { job: owner.slice(4), name };
  if (owner.startsWith('conv:') && name.length > 0) return { conversation: owner.slice(5), message: name };
  return null;
}

/** A piece of a stream's text and its range: `to - from === text.length`. */
export interface StreamPiece {
  from: number;
  to: number;
  text: string;
}

/**
 * `GET /v1/jobs/{id}/streams/{name}?from=N` (and `GET /v1/conversations/{id}/streams/{message}`):
 * the text from `from` (at most `maxStreamPageChars` of it: read again from `to` while
 * `to < length`), the stream's length now, and how it ended (`null` while it is open).
 * Once ended, the answer is immutable (an `ETag` and a long private `Cache-Control`).
 */
export interface StreamTextReply extends StreamPiece {
  stream: string;
  length: number;
  end: StreamEndReason | null;
}

/** What a worker's `POST /v1/jobs/{id}/streams/{name}` answers: the appended range, and the lease state. */
export interface StreamAppendReply {
  /** The range the appended text got (`from === to` for an `end` alone). */
  from: number;
  to: number;
  /** The stream's length after this request. */
  length: number;
  end: StreamEndReason | null;
  cancelRequested: boolean;
  leaseExpiresAt: number;
  fence: number;
}

// ---------------------------------------------------------------------------------------------
// WebSocket, client -> server

/**
 * Watch a stream from offset `from` (default 0: the whole text). The reply is a `stream.text`
 * with the text from `from` to the stream's length now, in one piece (more `stream.delta`s
 * follow at once when it was longer than a page); then live `stream.delta`s, then one
 * `stream.end`. Needs `job:read` on `job:<id>` (or, for a message, membership and `subscribe` on
 * `conv:<id>`); `token` may carry a token that grants it for this watch alone (a job's token).
 */
export interface StreamSubscribeMessage {
  type: 'stream.subscribe';
  id: number;
  stream: StreamRef;
  from?: number;
  token?: string;
}

/** Stop watching. The stream carries on: a disconnect or an unsubscribe never stops generation. */
export interface StreamUnsubscribeMessage {
  type: 'stream.unsubscribe';
  id: number;
  stream: StreamRef;
}

/**
 * Stop the generation: the stream ends `stopped` at once with the text it has, further appends
 * are refused (`stream_ended`), and for a job the job is cancelled (its worker sees `ctx.signal`
 * abort, or `cancelRequested` in its next report's reply). Needs `job:cancel` on `job:<id>` (or,
 * for a message, membership and `publish` on `conv:<id>`). The reply is an `ack`.
 */
export interface StreamStopMessage {
  type: 'stream.stop';
  id: number;
  stream: StreamRef;
  /** `token` as in `stream.subscribe`. */
  token?: string;
}

export type StreamClientMessage = StreamSubscribeMessage | StreamUnsubscribeMessage | StreamStopMessage;

// ---------------------------------------------------------------------------------------------
// WebSocket, server -> client

/**
 * Reply to `stream.subscribe`: the text from the requested offset. `length` is the stream's
 * length when it was read: while `to < length`, `stream.delta`s with the rest follow at once.
 * `end` is set when the stream had already ended (a `stream.end` follows all the same).
 * A `from` beyond the stream's length is answered from the length (`from` says where).
 */
export interface StreamTextMessage extends StreamPiece {
  type: 'stream.text';
  id: number;
  stream: string;
  length: number;
  end: StreamEndReason | null;
}

/** More text: live appends, coalesced per node tick, or the rest of a long catch-up. */
export interface StreamDeltaMessage extends StreamPiece {
  type: 'stream.delta';
  stream: string;
}

/**
 * The stream ended with `length` characters. Sent once per watch, after every piece up to
 * `length`; the watch is over (no `stream.unsubscribe` needed).
 */
export interface StreamEndMessage {
  type: 'stream.end';
  stream: string;
  reason: StreamEndReason;
  length: number;
}

/**
 * The node ended this watch itself: `unavailable` (the store could not be read; watch again from
 * what you have), `forbidden` (a refresh dropped the right to watch), `token_expired` (the
 * watch's own token expired).
 */
export interface StreamUnsubscribedMessage {
  type: 'stream.unsubscribed';
  id?: number;
  stream: string;
  code?: ErrorCode;
}

export type StreamServerMessage = StreamTextMessage | StreamDeltaMessage | StreamEndMessage | StreamUnsubscribedMessage;

// ---------------------------------------------------------------------------------------------
// Server-Sent Events: GET /v1/jobs/{id}/streams/{name}/events?from=N (and the conversation path)

/**
 * SSE event names. Each event's `id:` is the offset the watcher has after it (`to`), so an
 * `EventSource` resumes by itself through `Last-Event-ID` (which wins over `?from=`). The first
 * event is always a `stream.text` (possibly empty); `stream.end` is the last, then the response
 * ends, and a reconnect at the end's length is answered 204.
 */
export const StreamSseEvents = ['stream.text', 'stream.delta', 'stream.end'] as const;
export type StreamSseEvent = (typeof StreamSseEvents)[number];
