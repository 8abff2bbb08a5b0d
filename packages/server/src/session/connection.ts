import { CloseCodes, type ErrorCode, type ServerMessage } from '@inloop/protocol';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { Outlet, PublicationCodec, SubscribedInfo } from '../domain/outlet.js';
import type { Flushable } from '../domain/ticker.js';
import type { Metrics } from '../metrics.js';
import type { Publication } from '../ports/broker.js';

/**
 * How one transport puts bytes on the wire: a WebSocket (one frame per write) or an SSE
 * response (one chunk per write). The connection core owns the queue, the budget and the
 * policies; a framing only writes, says goodbye and reports its own buffer.
 */
export interface Framing {
  /** Write the chunks queued in one tick as one transport write (the array is not kept). */
  write(chunks: readonly Buffer[]): void;
  /** Say why (close frame, `disconnect` event) after what was written, then end. */
  end(farewell: Farewell): void;
  /** Drop the connection now, releasing everything it buffers. */
  destroy(): void;
  /** Bytes accepted by `write` and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  /** Call `listener` whenever the transport's buffer has emptied (the socket's `drain`). */
  onDrain(listener: () => void): void;
}

/** Why the node ends a connection, in each transport's words. */
export interface Farewell {
  /** WebSocket close code (protocol close-codes.ts). */
  readonly closeCode: number;
  /** WebSocket close reason. */
  readonly reason: string;
  /** SSE `disconnect` event: the code and whether reconnecting is worth it. */
  readonly code: ErrorCode | 'shutdown' | 'slow_consumer';
  readonly reconnect: boolean;
}

/** The farewells the connection core itself says; handlers may say others. */
export const Farewells = {
  shutdown: { closeCode: CloseCodes.shutdown, reason: 'node shutting down', code: 'shutdown', reconnect: true },
  slowConsumer: { closeCode: CloseCodes.slowConsumer, reason: 'slow consumer', code: 'slow_consumer', reconnect: true },
  internal: { closeCode: CloseCodes.internalError, reason: 'internal error', code: 'internal', reconnect: true },
  tokenExpired: { closeCode: CloseCodes.tokenExpired, reason: 'token expired', code: 'token_expired', reconnect: true },
  /** SSE only: a WebSocket keeps its connection and ends the subscription instead (1008 if ever). */
  forbidden: { closeCode: 1008, reason: 'forbidden', code: 'forbidden', reconnect: false },
} as const satisfies Record<string, Farewell>;

/** Writes queued output at the end of the tick (the {@link Ticker}), injected into each connection. */
export interface Scheduler {
  schedule(target: Flushable): void;
}

/** What every connection shares: built once per node. */
export interface ConnectionCore {
  readonly scheduler: Scheduler;
  /** Outbound bytes one connection may have pending, queued and buffered by its socket. */
  readonly maxBufferedBytes: number;
  /** A replay waiting on a socket that does not drain at all for this long cuts the client off. */
  readonly slowConsumerTimeoutMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/**
 * The array a one-chunk flush hands its framing, shared by every connection: flushes run one at a
 * time and a framing does not keep the array, so it is refilled and cleared around each write.
 */
const NOTHING = Buffer.alloc(0);
const ONE: Buffer[] = [NOTHING];

/** How long a slow consumer gets to receive its farewell before the socket is destroyed. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * One client connection, whatever its transport: one outbound queue with one byte budget, one
 * slow-consumer policy, one drain, one token-expiry check. WebSocket sessions and SSE streams are
 * subclasses that add what their transport carries; their bytes go out through a {@link Framing}.
 *
 * Every byte counts: live publications, replayed history, replies, heartbeats. Past the budget the
 * client is cut off (WebSocket 4001, SSE end) and what was pending for it is released. A replay
 * waits for the socket to drain before it reads more, so a client that stops reading holds at
 * most the budget, and is cut off once its socket has made no progress for
 * `slowConsumerTimeoutMs`.
 */
export abstract class Connection implements Outlet, Flushable {
  abstract readonly codec: PublicationCodec;
  /** Who the connection acts for; null until a WebSocket's `connect` is accepted. */
  principal: Principal | null = null;
  #closed = false;
  /** The first chunk queued this tick: most ticks queue one (a fan-out's publication). */
  #first: Buffer | undefined;
  /** Chunks queued after the first this tick; kept between ticks (emptied in place). */
  #rest: Buffer[] | undefined;
  #queuedBytes = 0;
  /**
   * An upper bound of the socket's buffer: its size when last read, plus every byte written since
   * (the buffer only shrinks between writes; pings and close frames, a few bytes, aside). `push` checks the budget against it and reads the
   * real figure only when the bound says the budget may be exceeded, which spares a getter chain
   * into the transport on every delivery of a fan-out.
   */
  #bufferedBound = 0;
  #waiters: Set<() => void> | undefined;

  constructor(
    readonly framing: Framing,
    readonly core: ConnectionCore,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes pending for this client: queued here and buffered by its socket. */
  get pendingBytes(): number {
    return this.#closed ? 0 : this.#queuedBytes + this.framing.bufferedBytes;
  }

  get congested(): boolean {
    return this.pendingBytes > this.core.maxBufferedBytes / 2;
  }

  push(chunk: Buffer, _publications?: readonly Publication[]): void {
    if (this.#closed) return;
    const first = this.#first === undefined;
    if (first) this.#first = chunk;
    else (this.#rest ??= []).push(chunk);
    const queued = (this.#queuedBytes += chunk.length);
    const max = this.core.maxBufferedBytes;
    if (queued + this.#bufferedBound > max && queued + (this.#bufferedBound = this.framing.bufferedBytes) > max)
      return this.cutOff();
    if (first) this.core.scheduler.schedule(this);
  }

  /** Queue one control message in this connection's encoding. */
  abstract send(message: ServerMessage): void;

  abstract subscribed(info: SubscribedInfo): void;

  abstract subjectFor(topic: string): string | null;

  abstract revoked(topic: string, code: ErrorCode): void;

  flush(): void {
    const first = this.#first;
    if (first === undefined || this.#closed) return;
    this.#bufferedBound += this.#queuedBytes;
    this.#queuedBytes = 0;
    this.#first = undefined;
    const rest = this.#rest;
    try {
      if (rest === undefined || rest.length === 0) {
        // A fan-out's usual case, one chunk: no array filled and emptied per delivery (emptying
        // an array in place is a call into the runtime, and refilling it grows its storage again).
        ONE[0] = first;
        this.framing.write(ONE);
      } else {
        rest.unshift(first);
        this.framing.write(rest);
      }
    } finally {
      ONE[0] = NOTHING;
      if (rest !== undefined && rest.length !== 0) rest.length = 0;
    }
  }

  /** A fault while writing (see Flushable): drop what is queued and close as `internal`. */
  abort(): void {
    this.#discard();
    this.close(Farewells.internal);
  }

  /**
   * Write what is queued and resolve once the connection is no longer congested, or closed. A
   * socket that makes no progress for `slowConsumerTimeoutMs` meanwhile is a slow consumer.
   */
  async drain(): Promise<void> {
    this.flush();
    if (this.#closed || !this.congested) return;
    if (!this.#waiters) {
      this.#waiters = new Set();
      this.framing.onDrain(() => this.#wake());
    }
    const waiters = this.#waiters;
    await new Promise<void>((resolve) => {
      let last = this.framing.bufferedBytes;
      const waiter = (): void => {
        if (!this.#closed && this.congested) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve();
      };
      const watch = (): void => {
        if (this.#closed) return waiter();
        const now = this.framing.bufferedBytes;
        if (now < last) {
          last = now;
          timer = setTimeout(watch, this.core.slowConsumerTimeoutMs);
          return;
        }
        this.cutOff();
        waiter();
      };
      let timer = setTimeout(watch, this.core.slowConsumerTimeoutMs);
      waiters.add(waiter);
    });
  }

  /** End the connection saying why; what is queued is written first. */
  close(farewell: Farewell): void {
    if (this.#closed) return;
    this.flush();
    this.#teardown();
    this.framing.end(farewell);
  }

  /** The transport closed (either side): release everything. */
  transportClosed(): void {
    this.#teardown();
  }

  /**
   * Cut off a client that does not read: what was pending for it is dropped at once, it is told
   * why (a close frame or `disconnect` that can only arrive if it reads again), and the socket is
   * destroyed after a short grace so its buffer is released either way.
   */
  cutOff(): void {
    if (this.#closed) return;
    this.core.metrics.drops.inc({ reason: 'slow_consumer' });
    this.core.logger.warn({ connection: this.describe() }, 'slow consumer disconnected');
    this.#discard();
    this.#teardown();
    this.framing.end(Farewells.slowConsumer);
    setTimeout(() => this.framing.destroy(), SLOW_CONSUMER_GRACE_MS).unref();
  }

  /**
   * One step of the node's periodic sweep (see {@link Connections}): end a connection whose
   * token has expired, then let the subclass do its own checks and keepalive.
   */
  sweep(now: number, beat: number): void {
    const p = this.principal;
    if (p?.kind === 'token' && p.expiresAt <= now) return this.expired();
    this.tick(now, beat);
  }

  /** The connection's token expired: say so and end. */
  protected expired(): void {
    this.close(Farewells.tokenExpired);
  }

  /** Per-transport periodic work (keepalive, deadlines); `beat` counts sweeps. */
  protected abstract tick(now: number, beat: number): void;

  /** Release what the subclass holds (subscriptions, presence); runs once. */
  protected abstract released(): void;

  /** A short label for logs. */
  protected abstract describe(): string;

  #discard(): void {
    this.#first = undefined;
    if (this.#rest) this.#rest.length = 0;
    this.#queuedBytes = 0;
  }

  #wake(): void {
    if (this.#waiters) for (const w of [...this.#waiters]) w();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#discard();
    this.#rest = undefined;
    try {
      this.released();
    } finally {
      this.#wake();
    }
  }
}

/** How often the node sweeps its connections (token expiry, deadlines, keepalive). */
export const SWEEP_MS = 1000;

/**
 * Every open connection of the node, across transports, and the one sweep over them: token
 * expiry, connect deadlines and keepalives in one timer. A fault in one connection's step costs
 * that connection alone.
 */
export class Connections {
  readonly #all = new Set<Connection>();
  readonly #timer: NodeJS.Timeout;
  #beats = 0;

  constructor(private readonly core: ConnectionCore) {
    this.#timer = setInterval(() => this.#sweep(), SWEEP_MS).unref();
  }

  add(c: Connection): void {
    this.#all.add(c);
  }

  delete(c: Connection): void {
    this.#all.delete(c);
  }

  get size(): number {
    return this.#all.size;
  }

  /** Bytes pending for every client of the node (queued and in socket buffers). */
  pendingBytes(): number {
    let total = 0;
    for (const c of this.#all) total += c.pendingBytes;
    return total;
  }

  /** Run `step` on `c`; a throw closes `c` alone as `internal` (an uncaught one would end the process). */
  contained(c: Connection, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.core.metrics.faults.inc({ where: 'connection' });
      this.core.logger.error({ err }, 'connection step failed; connection closed');
      try {
        c.abort();
      } catch {
        c.framing.destroy();
      }
    }
  }

  /** Close every connection, saying the node is going away. */
  shutdown(): void {
    for (const c of [...this.#all]) this.contained(c, () => c.close(Farewells.shutdown));
  }

  close(): void {
    clearInterval(this.#timer);
    this.shutdown();
  }

  #sweep(): void {
    const now = Date.now();
    const beat = ++this.#beats;
    for (const c of this.#all) this.contained(c, () => c.sweep(now, beat));
  }
}
