import type { ErrorCode, StreamEndReason, StreamPiece, StreamServerMessage, StreamTextMessage } from '@inloop/protocol';
import type { Logger } from 'pino';
import { Refusal } from '../../errors.js';
import type { StreamRead } from '../../ports/stream-store.js';
import type { Outlet, PublicationCodec } from '../outlet.js';

/** What a watch needs of its connection: the connection core's queue, budget and drain. */
export type StreamOutlet = Pick<Outlet, 'codec' | 'push' | 'closed' | 'congested' | 'drain'>;

/** One connection watching one stream. */
export class StreamWatch {
  /** The offset the watcher has: everything before it was queued on its connection. */
  have = 0;
  /** Reading from the store (the first catch-up or a refill): live pieces wait in `held`. */
  syncing = true;
  held: StreamPiece[] = [];
  /** How the stream ended, once known; `stream.end` goes out when `have` reaches its length. */
  end: { reason: StreamEndReason; length: number } | null = null;
  done = false;
  /** Told once when the watch is over (ended, unwatched, or refused). */
  onDone: (() => void) | null = null;
  /**
   * Why the node took the watch away (`forbidden`: its member was removed from the conversation),
   * once it did; {@link onRevoke} tells the transport, which ends the watch and says why.
   */
  revoked: ErrorCode | null = null;
  onRevoke: ((code: ErrorCode) => void) | null = null;

  constructor(
    readonly outlet: StreamOutlet,
    readonly key: string,
    readonly owner: string,
    readonly id: number | undefined,
    /** The member whose rights the watch rests on (its token's subject); null for an API key. */
    readonly subject: string | null = null,
  ) {}
}

export interface StreamWatchersOptions {
  /** Read the stream from the store (or what stands for it: an unstarted job's empty stream). */
  read: (key: string, from: number, maxChars: number) => Promise<StreamRead | null>;
  /** Hear the owner's stream signals on this node (first watcher) / stop (last one gone). */
  follow: (owner: string) => void;
  unfollow: (owner: string) => void;
  /** Largest piece of text read and queued at once. */
  pageChars: number;
  logger?: Pick<Logger, 'error'>;
}

/**
 * The resume seam for streams, the way `Hub.subscribe` is for topics. A watch is registered
 * first (live pieces are held), then the text from the watcher's offset is read and queued in
 * pages, each once the connection has drained the one before; then what was held is queued,
 * trimmed to start at the offset the watcher has, and the watch goes live in the same
 * synchronous step. Pieces carry their ranges, so the seam needs no epoch or buffer search:
 * a piece that ends at or before `have` is dropped, one that starts before it is cut, and one
 * that starts after it (a signal lost between nodes) sends the watch back to the store for the
 * missing text. Live pieces of one stream are coalesced per turn and encoded once per codec.
 */
export class StreamWatchers {
  readonly #byKey = new Map<string, Set<StreamWatch>>();
  readonly #owners = new Map<string, number>();
  /** Pieces and ends heard this turn, per stream, in order. */
  #pending = new Map<string, (StreamPiece | { reason: StreamEndReason; length: number })[]>();
  #armed = false;

  constructor(private readonly o: StreamWatchersOptions) {}

  /** Watchers on this node, over all streams. */
  get size(): number {
    let n = 0;
    for (const set of this.#byKey.values()) n += set.size;
    return n;
  }

  /** Start watching `key` from `from`; resolves once the catch-up is queued (or refused: `not_found`). */
  async watch(
    outlet: StreamOutlet,
    key: string,
    owner: string,
    from: number,
    id?: number,
    subject: string | null = null,
  ): Promise<StreamWatch> {
    const w = new StreamWatch(outlet, key, owner, id, subject);
    w.have = from;
    let set = this.#byKey.get(key);
    if (!set) this.#byKey.set(key, (set = new Set()));
    set.add(w);
    const n = this.#owners.get(owner) ?? 0;
    this.#owners.set(owner, n + 1);
    if (n === 0) this.o.follow(owner);
    try {
      await this.#catchUp(w, true);
    } catch (err) {
      this.unwatch(w);
      throw err;
    }
    return w;
  }

  /** Stop watching; the stream itself carries on. */
  unwatch(w: StreamWatch): void {
    if (w.done) return;
    w.done = true;
    const set = this.#byKey.get(w.key);
    if (set?.delete(w) && set.size === 0) this.#byKey.delete(w.key);
    const n = (this.#owners.get(w.owner) ?? 1) - 1;
    if (n <= 0) {
      this.#owners.delete(w.owner);
      this.o.unfollow(w.owner);
    } else this.#owners.set(w.owner, n);
    const done = w.onDone;
    w.onDone = null;
    done?.();
  }

  /**
   * `member` lost its right to `owner`'s streams (removed from the conversation): end its watches
   * of them on this node with `code`. A watch still catching up ends too; its transport sees
   * `revoked` when the catch-up returns.
   */
  revoke(owner: string, member: string, code: ErrorCode): void {
    for (const set of [...this.#byKey.values()])
      for (const w of [...set]) {
        if (w.owner !== owner || w.subject !== member || w.done) continue;
        w.revoked = code;
        // Told first: the transport says why before the watch's end would just close it.
        w.onRevoke?.(code);
        this.unwatch(w);
      }
  }

  /** A piece of `key`'s text, appended on some node: queued for this turn's delivery. */
  heard(key: string, item: StreamPiece | { reason: StreamEndReason; length: number }): void {
    if (!this.#byKey.has(key)) return;
    let list = this.#pending.get(key);
    if (!list) this.#pending.set(key, (list = []));
    const last = list.at(-1);
    // Contiguous appends of one turn become one piece: one message per stream per turn.
    if (last && 'text' in last && 'text' in item && last.to === item.from) {
      list[list.length - 1] = { from: last.from, to: item.to, text: last.text + item.text };
    } else list.push(item);
    if (!this.#armed) {
      this.#armed = true;
      setImmediate(() => this.#deliver());
    }
  }

  #deliver(): void {
    this.#armed = false;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [key, items] of pending) {
      const set = this.#byKey.get(key);
      if (!set) continue;
      for (const item of items) {
        if ('text' in item) this.#piece(key, set, item);
        else for (const w of [...set]) this.#ended(w, item);
      }
    }
  }

  /** Deliver one live piece: the same bytes to every watcher it continues exactly. */
  #piece(key: string, set: Set<StreamWatch>, piece: StreamPiece): void {
    let encoded: Map<PublicationCodec, Buffer> | undefined;
    for (const w of [...set]) {
      if (w.done || w.outlet.closed) continue;
      if (w.syncing) {
        w.held.push(piece);
        continue;
      }
      if (piece.to <= w.have) continue;
      if (piece.from > w.have) {
        // A piece went missing on its way here: read what is missing from the store.
        w.held.push(piece);
        this.#refill(w);
        continue;
      }
      if (piece.from === w.have) {
        encoded ??= new Map();
        let bytes = encoded.get(w.outlet.codec);
        if (!bytes)
          encoded.set(
            w.outlet.codec,
            (bytes = w.outlet.codec.message({ type: 'stream.delta', stream: key, ...piece })),
          );
        w.outlet.push(bytes);
      } else this.#send(w, { type: 'stream.delta', stream: key, ...cut(piece, w.have) });
      w.have = piece.to;
    }
  }

  #ended(w: StreamWatch, end: { reason: StreamEndReason; length: number }): void {
    if (w.done) return;
    w.end ??= end;
    if (w.syncing) return;
    if (w.have >= end.length) this.#finish(w);
    else this.#refill(w);
  }

  #refill(w: StreamWatch): void {
    if (w.syncing) return;
    w.syncing = true;
    this.#catchUp(w, false).catch((err: unknown) => {
      this.o.logger?.error({ err, stream: w.key }, 'stream refill failed');
      this.#send(w, { type: 'stream.unsubscribed', stream: w.key, code: 'unavailable' });
      this.unwatch(w);
    });
  }

  /**
   * Read from `have` to the stream's length, page by page, then drain what was held and go live
   * in one synchronous step. A held piece that still leaves a hole means more was appended than
   * was read: read again.
   */
  async #catchUp(w: StreamWatch, first: boolean): Promise<void> {
    for (;;) {
      for (;;) {
        if (w.done || w.outlet.closed) return;
        const r = await this.o.read(w.key, w.have, this.o.pageChars);
        if (w.done || w.outlet.closed) return;
        if (!r) throw new Refusal('not_found', 'no such stream');
        // The store's word on the end wins over a signal's: it is what the text was read from.
        if (r.end !== null) w.end = { reason: r.end, length: r.length };
        if (first) {
          const reply: StreamTextMessage = {
            type: 'stream.text',
            id: w.id ?? 0,
            stream: w.key,
            from: r.from,
            to: r.to,
            text: r.text,
            length: r.length,
            end: r.end,
          };
          if (w.id === undefined) delete (reply as Partial<StreamTextMessage>).id;
          this.#send(w, reply);
          first = false;
          // A `from` past the length is answered from the length (a watcher that had more than a
          // crash of the node left): from here on the watch goes on from there, not from `from`.
          w.have = r.to;
        } else if (r.to > w.have) {
          this.#send(w, { type: 'stream.delta', stream: w.key, from: r.from, to: r.to, text: r.text });
          w.have = r.to;
        }
        if (r.to >= r.length) break;
        if (w.outlet.congested) await w.outlet.drain();
      }
      let hole = false;
      while (w.held.length > 0) {
        const piece = w.held.shift()!;
        if (piece.to <= w.have) continue;
        if (piece.from > w.have) {
          hole = true;
          w.held.unshift(piece);
          break;
        }
        this.#send(w, { type: 'stream.delta', stream: w.key, ...cut(piece, w.have) });
        w.have = piece.to;
      }
      if (hole) continue;
      w.syncing = false;
      if (w.end && w.have >= w.end.length) this.#finish(w);
      else if (w.end) {
        // Ended past what we have: the last pieces are still on their way, or lost; read them.
        w.syncing = true;
        continue;
      }
      return;
    }
  }

  #finish(w: StreamWatch): void {
    if (w.done || !w.end) return;
    this.#send(w, { type: 'stream.end', stream: w.key, reason: w.end.reason, length: w.end.length });
    this.unwatch(w);
  }

  #send(w: StreamWatch, message: StreamServerMessage): void {
    if (w.outlet.closed) return;
    w.outlet.push(w.outlet.codec.message(message));
  }

  /** End every watch (the node is closing). */
  close(): void {
    for (const set of [...this.#byKey.values()]) for (const w of [...set]) this.unwatch(w);
  }
}

/** The part of `piece` from `have` on (`from <= have < to`). */
function cut(piece: StreamPiece, have: number): StreamPiece {
  return have <= piece.from ? piece : { from: have, to: piece.to, text: piece.text.slice(have - piece.from) };
}
