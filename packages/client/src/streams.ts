import {
  isErrorCode,
  streamKey,
  type StreamEndReason,
  type StreamRef,
  type StreamServerMessage,
  type StreamTextMessage,
} from '@inloop/protocol';
import { Emitter } from './emitter.js';
import { InloopError } from './errors.js';
import type { ClientLink } from './link.js';

/** One step of a stream: what was added, and the whole text so far. */
export interface StreamChunk {
  delta: string;
  text: string;
  /**
   * The node had less text than this watch (a crash lost its last moments before they were
   * written): `text` is the node's text, not an extension of the previous one. Rare; show `text`.
   */
  reset?: true;
}

export type StreamWatchEvents = {
  /** Text was added: `delta` at the end of `text`. The first one after a join carries the text so far. */
  delta: (delta: string, text: string) => void;
  /** The text was replaced by a shorter one (see `StreamChunk.reset`). */
  reset: (text: string) => void;
  /** Exactly once: the stream ended, with the whole text. */
  end: (reason: StreamEndReason, text: string) => void;
  /** The watch ended without the stream ending (access withdrawn, no such stream). */
  error: (error: InloopError) => void;
};

export interface WatchStreamOptions {
  /** A token that allows watching (and stopping) this stream, e.g. a job's read token. */
  token?: string;
  /**
   * The text this page already has (say, kept across a reload): the watch asks only for what
   * comes after it. @default ''
   */
  text?: string;
}

/**
 * What a stream's watchers on one client share: one watch on the node, the text, and its end.
 * It subscribes on every (re)connect from the offset it holds, and applies the watcher's rule
 * (docs/streams.md): keep `text.slice(have - from)` of a piece when `from <= have < to`, ignore
 * it otherwise, so a reconnect's overlap is never shown twice and nothing is skipped.
 */
/** Characters of the text held that a resubscribe asks for again, to check they still match. */
const OVERLAP = 64;

class StreamChannel {
  text: string;
  /** Bumped when the text is replaced by a shorter one. */
  resets = 0;
  end: StreamEndReason | null = null;
  error: InloopError | undefined;
  readonly watches = new Set<StreamWatch>();
  #subscribed = false;
  #unhooks: (() => void)[] = [];
  /** The offset asked for by the subscribe in flight: a reply from below it means lost text. */
  #asked = 0;
  /** Reading the stream again from its start: what the old watch still sends is ignored. */
  #refetching = false;

  constructor(
    readonly key: string,
    readonly ref: StreamRef,
    readonly token: string | undefined,
    initial: string,
    private readonly link: ClientLink,
    private readonly forget: (channel: StreamChannel) => void,
  ) {
    this.text = initial;
    this.#unhooks.push(
      link.onConnected(() => this.#subscribe()),
      link.onDisconnected(() => (this.#subscribed = false)),
    );
  }

  get finished(): boolean {
    return this.end !== null || this.error !== undefined;
  }

  /**
   * Subscribe from a little before the end of the text held (`OVERLAP`), so the reply shows
   * whether the node's text still matches ours there (see `#text`).
   */
  #subscribe(from = Math.max(0, this.text.length - OVERLAP)): void {
    if (this.finished || this.#subscribed) return;
    this.#subscribed = true;
    this.#asked = from;
    this.link
      .request({
        type: 'stream.subscribe',
        stream: this.ref,
        from,
        ...(this.token === undefined ? {} : { token: this.token }),
      })
      .catch((err: unknown) => {
        const error = err instanceof InloopError ? err : new InloopError('internal', String(err));
        // A lost connection resubscribes on the next connect; a second watch on this connection
        // (a race with a reconnect) is the same watch.
        if (error.code === 'unavailable') this.#subscribed = false;
        else if (error.code !== 'already_subscribed') this.#fail(error);
      });
  }

  /** A message for this stream, handled as it arrives (a reply's text before the deltas behind it). */
  handle(message: StreamServerMessage): void {
    if (this.finished) return;
    if (this.#refetching && message.type !== 'stream.text' && message.type !== 'stream.unsubscribed') return;
    switch (message.type) {
      case 'stream.text':
        return this.#text(message);
      case 'stream.delta':
        return this.#piece(message.from, message.to, message.text);
      case 'stream.end':
        // Shorter than what we hold: the node lost the end of it in a crash; read it again.
        if (message.length < this.text.length) return this.#refetch();
        this.end = message.reason;
        for (const w of [...this.watches]) w.ended(message.reason);
        return this.#close(false);
      case 'stream.unsubscribed':
        this.#subscribed = false;
        return this.#fail(new InloopError(isErrorCode(message.code) ? message.code : 'forbidden'));
    }
  }

  #text(message: StreamTextMessage): void {
    // The node answers a `from` beyond its length from its length: it lost the end of what we
    // hold (the last moments before a crash). And where its text overlaps ours it must be ours:
    // after such a loss the writer goes on from the shorter text, so the node may be longer than
    // us again by the time we resubscribe, with other text where our lost end was. Either way
    // we cannot tell where our text stopped being the node's: read it all again.
    this.#refetching = false;
    const have = this.text.length;
    const seam = Math.min(have, message.to);
    const overlapping = seam > message.from ? message.text.slice(0, seam - message.from) : '';
    if (message.from < this.#asked || this.text.slice(message.from, seam) !== overlapping) return this.#refetch();
    this.#piece(message.from, message.to, message.text);
  }

  /** Drop the text and read the stream again from its start (after the node lost some of it). */
  #refetch(): void {
    this.#refetching = true;
    this.#reset('');
    if (!this.link.connected()) return void (this.#subscribed = false);
    this.link
      .request({ type: 'stream.unsubscribe', stream: this.ref })
      .catch(() => {})
      .finally(() => {
        this.#subscribed = false;
        if (this.link.connected()) this.#subscribe(0);
      });
  }

  #piece(from: number, to: number, text: string): void {
    const have = this.text.length;
    if (from > have || to <= have) return;
    const delta = text.slice(have - from);
    this.text += delta;
    for (const w of [...this.watches]) w.added(delta);
  }

  #reset(text: string): void {
    this.text = text;
    this.resets++;
    for (const w of [...this.watches]) w.replaced();
  }

  #fail(error: InloopError): void {
    if (this.finished) return;
    this.error = error;
    for (const w of [...this.watches]) w.failed(error);
    this.#close(false);
  }

  /** Stop the generation (idempotent on the node; sent again after a reconnect). */
  stop(): Promise<void> {
    return this.link
      .request(
        { type: 'stream.stop', stream: this.ref, ...(this.token === undefined ? {} : { token: this.token }) },
        { resend: true, timeoutMs: 30_000 },
      )
      .then(() => undefined);
  }

  release(watch: StreamWatch): void {
    this.watches.delete(watch);
    if (this.watches.size === 0) this.#close(true);
  }

  #close(unsubscribe: boolean): void {
    for (const unhook of this.#unhooks.splice(0)) unhook();
    this.forget(this);
    if (unsubscribe && this.#subscribed && !this.finished && this.link.connected()) {
      this.#subscribed = false;
      this.link.request({ type: 'stream.unsubscribe', stream: this.ref }).catch(() => {});
    }
  }
}

/**
 * A live view of one stream: `text` is everything so far, kept whole through reconnects. Iterate
 * it for `{ delta, text }` steps (the first carries the text so far; a slow consumer gets the
 * steps it missed as one), listen to `delta` and `end`, or await `done`. `close()` stops
 * watching and leaves the generation running; `stop()` stops the generation for everyone.
 *
 * ```ts
 * const watch = await client.watchJob(job.id, { token: job.token });
 * for await (const { delta } of watch.stream('answer')) out.append(delta);
 * ```
 */
export class StreamWatch extends Emitter<StreamWatchEvents> implements AsyncIterable<StreamChunk> {
  #closed = false;
  #waiters: (() => void)[] = [];
  #done: Promise<{ text: string; reason: StreamEndReason }> | undefined;

  /** @internal Built by `InloopClient.watchStream` and `JobWatch.stream`. */
  constructor(private readonly channel: StreamChannel) {
    super();
    channel.watches.add(this);
  }

  /** The stream's key (`job:<id>/<name>`, `conv:<id>/<message>`). */
  get key(): string {
    return this.channel.key;
  }

  /** The whole text so far. */
  get text(): string {
    return this.channel.text;
  }

  /** How the stream ended, or null while it runs. */
  get end(): StreamEndReason | null {
    return this.channel.end;
  }

  /** Resolves with the whole text and the reason once the stream ends; rejects if the watch fails or is closed first. */
  get done(): Promise<{ text: string; reason: StreamEndReason }> {
    return (this.#done ??= new Promise((resolve, reject) => {
      const settle = (): boolean => {
        if (this.channel.end) resolve({ text: this.channel.text, reason: this.channel.end });
        else if (this.channel.error) reject(this.channel.error);
        else if (this.#closed) reject(new InloopError('unavailable', 'the watch was closed'));
        else return false;
        return true;
      };
      // Every change wakes the waiters once: wait again until it has ended.
      const wait = (): void => {
        if (!settle()) this.#waiters.push(wait);
      };
      wait();
    }));
  }

  /** Stop the generation: the stream ends `stopped` with what it has, for every watcher (a job is cancelled). */
  stop(): Promise<void> {
    return this.channel.stop();
  }

  /** Stop watching (the generation goes on). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.channel.release(this);
    this.#wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StreamChunk, void, undefined> {
    let given = 0;
    let resets = this.channel.resets;
    try {
      for (;;) {
        const text = this.channel.text;
        if (resets !== this.channel.resets) {
          resets = this.channel.resets;
          given = text.length;
          yield { delta: text, text, reset: true };
        } else if (text.length > given) {
          const delta = text.slice(given);
          given = text.length;
          yield { delta, text };
        } else if (this.channel.end || this.#closed) return;
        else if (this.channel.error) throw this.channel.error;
        else await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      // Leaving the loop early (`break`) ends the watch, as it would for a Node stream.
      this.close();
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** @internal */
  added(delta: string): void {
    this.emit('delta', delta, this.channel.text);
    this.#wake();
  }

  /** @internal */
  replaced(): void {
    this.emit('reset', this.channel.text);
    this.#wake();
  }

  /** @internal */
  ended(reason: StreamEndReason): void {
    this.emit('end', reason, this.channel.text);
    this.#wake();
  }

  /** @internal */
  failed(error: InloopError): void {
    this.emit('error', error);
    this.#wake();
  }
}

/** A client's streams: one channel per stream key, shared by every watch of it. */
export class StreamTable {
  readonly #channels = new Map<string, StreamChannel>();

  constructor(private readonly link: ClientLink) {}

  watch(ref: StreamRef, options: WatchStreamOptions = {}): StreamWatch {
    const key = streamKey(ref);
    let channel = this.#channels.get(key);
    if (!channel) {
      channel = new StreamChannel(key, ref, options.token, options.text ?? '', this.link, (c) => {
        if (this.#channels.get(c.key) === c) this.#channels.delete(c.key);
      });
      this.#channels.set(key, channel);
    }
    return new StreamWatch(channel);
  }

  /** Route a stream message from the node. */
  handle(message: StreamServerMessage): void {
    this.#channels.get(message.stream)?.handle(message);
  }
}
