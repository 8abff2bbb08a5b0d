import { randomBytes } from 'node:crypto';
import { CloseCodes, ErrorCatalog, PROTOCOL_VERSION, type ErrorCode, type ServerMessage } from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import type { Outlet, SubscribedInfo } from '../domain/outlet.js';
import { TokenBucket, type RateAction } from '../domain/rate-limits.js';
import type { Subscription } from '../domain/subscription.js';
import type { Flushable } from '../domain/ticker.js';
import { encodeWs, joinLines, wsCodec } from './codecs.js';
import type { SessionContext } from './context.js';

/** The transport's socket, as a session needs it: the session never sees `ws` itself. */
export interface SessionSocket {
  send(payload: Buffer): void;
  close(code: number, reason: string): void;
  terminate(): void;
  /** Send a keepalive ping; the transport sets `alive` when the pong comes back. */
  ping(): void;
  /** Bytes accepted by `send` but not yet handed to the kernel. */
  readonly bufferedAmount: number;
}

/** How long a slow consumer gets to receive its close frame before the socket is destroyed. */
const SLOW_CONSUMER_GRACE_MS = 1000;
/** How often a congested connection is checked while a replay waits for it. */
const DRAIN_POLL_MS = 5;
/** Rate-limited requests tolerated in a row before the connection is closed as abusive. */
const RATE_LIMIT_STRIKES = 1000;

/**
 * One WebSocket connection: its principal, its subscriptions, its outbound queue. Messages are
 * dispatched to the handler table in `handlers.ts`; replies and publications are queued here and
 * written once per tick.
 */
export class Session implements Outlet, Flushable {
  readonly id = randomBytes(9).toString('base64url');
  readonly codec = wsCodec;
  readonly connectDeadline: number;
  principal: Principal | null = null;
  /** Set while the `connect` message is being verified; later messages wait for it. */
  connecting: Promise<void> | null = null;
  /** Answered the last ping. */
  alive = true;
  #closed = false;
  #subs: Map<string, Subscription | null> | undefined;
  #queue: Buffer[] | undefined;
  #queuedBytes = 0;
  /** The allowance of invalid frames: each takes one; the one that finds it empty closes. */
  #invalidFrames: TokenBucket | undefined;
  #ownTokens: Map<string, Principal> | undefined;
  #strikes = 0;

  constructor(
    readonly socket: SessionSocket,
    readonly ctx: SessionContext,
  ) {
    this.connectDeadline = Date.now() + ctx.config.connectTimeoutMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Subscriptions by topic; null while a subscribe is in progress. */
  get subscriptions(): Map<string, Subscription | null> {
    return (this.#subs ??= new Map());
  }

  /**
   * Topics subscribed under a subscription token of their own, with that token's principal: a
   * connection refresh leaves them be, and each ends when its own token expires.
   */
  get ownTokenTopics(): Map<string, Principal> {
    return (this.#ownTokens ??= new Map());
  }

  /** The member this connection speaks for (its token's subject); null for an API key. */
  get subject(): string | null {
    return this.principal?.kind === 'token' ? this.principal.sub : null;
  }

  subjectFor(topic: string): string | null {
    const grant = this.#ownTokens?.get(topic) ?? this.principal;
    return grant?.kind === 'token' ? grant.sub : null;
  }

  /**
   * End the subscription to `topic` at the node's initiative, telling the client why with an
   * `unsubscribed` that carries `code` and no id. The connection stays.
   */
  endSubscription(topic: string, code: ErrorCode): void {
    const sub = this.#subs?.get(topic);
    if (sub === undefined) return;
    this.#subs!.delete(topic);
    this.#ownTokens?.delete(topic);
    if (sub) this.ctx.hub.unsubscribe(sub);
    this.send({ type: 'unsubscribed', topic, code });
  }

  revoked(topic: string, code: ErrorCode): void {
    this.endSubscription(topic, code);
  }

  presenceEnded(topic: string, code: ErrorCode): void {
    this.send({ type: 'presence.ended', topic, code });
  }

  /** End the subscriptions whose own token has expired by `now` (`token_expired`). */
  expireOwnTokens(now: number): void {
    if (!this.#ownTokens) return;
    for (const [topic, grant] of this.#ownTokens) {
      if (grant.kind === 'token' && grant.expiresAt <= now) this.endSubscription(topic, 'token_expired');
    }
  }

  get subscriptionCount(): number {
    return this.#subs?.size ?? 0;
  }

  send(message: ServerMessage): void {
    this.push(encodeWs(message));
  }

  reply(id: number | undefined, code: ErrorCode, message: string = ErrorCatalog[code].title): void {
    this.ctx.metrics.errors.inc({ code });
    this.send(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
  }

  push(chunk: Buffer): void {
    if (this.#closed) return;
    (this.#queue ??= []).push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes + this.socket.bufferedAmount > this.ctx.config.maxBufferedBytes) {
      this.#dropSlowConsumer();
      return;
    }
    this.ctx.hub.ticker.schedule(this);
  }

  flush(): void {
    const queue = this.#queue;
    if (!queue || this.#closed) return;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.socket.send(joinLines(queue));
  }

  /** A fault while writing (see Flushable): drop what is queued and close with 4003. */
  abort(): void {
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.close(CloseCodes.internalError, 'internal error');
  }

  get congested(): boolean {
    return this.#queuedBytes + this.socket.bufferedAmount > this.ctx.config.maxBufferedBytes / 2;
  }

  async drain(): Promise<void> {
    this.flush();
    while (!this.#closed && this.congested) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }

  subscribed(info: SubscribedInfo): void {
    this.send({
      type: 'subscribed',
      id: info.id ?? 0,
      topic: info.topic,
      epoch: info.epoch,
      offset: info.offset,
      recovered: info.recovered,
      replayed: info.replayed,
    });
  }

  /**
   * Take one `action` from the principal's budget (shared with its other connections and HTTP).
   * True to go ahead; otherwise replies `rate_limited` with the wait and returns false. A
   * connection that goes on regardless is closed with 4004.
   */
  admit(id: number, action: RateAction): boolean {
    const wait = this.ctx.limits.take(this.principal!, action);
    if (wait === 0) {
      this.#strikes = 0;
      return true;
    }
    this.reply(id, 'rate_limited', `retry in ${wait} ms`);
    if (++this.#strikes >= RATE_LIMIT_STRIKES) this.close(CloseCodes.rateLimited, 'rate limit exceeded');
    return false;
  }

  /**
   * A frame that could not be decoded (not JSON, an unknown type, bad fields): answered with its
   * code while the connection's allowance lasts (`invalidFrameBurst`, refilled at
   * `invalidFrameRatePerSec`); the frame that finds it empty closes the connection with 4400, so
   * a broken or hostile client cannot make the node write errors without end.
   */
  invalidFrame(id: number | undefined, code: ErrorCode, message?: string): void {
    const { invalidFrameRatePerSec, invalidFrameBurst } = this.ctx.config;
    this.#invalidFrames ??= new TokenBucket(invalidFrameRatePerSec, invalidFrameBurst);
    if (this.#invalidFrames.take() > 0) {
      this.close(CloseCodes.protocolViolation, 'too many invalid frames');
      return;
    }
    this.reply(id, code, message);
  }

  /** The peer showed a sign of life (a message or a pong): it is alive, and so is its presence. */
  heard(): void {
    this.alive = true;
    this.ctx.presence.touch(this.id);
  }

  /** Accept the `connect` message's principal. */
  connected(principal: Principal): void {
    this.principal = principal;
    this.send({
      type: 'connected',
      session: this.id,
      node: this.ctx.nodeId,
      version: PROTOCOL_VERSION,
      subject: principal.kind === 'token' ? principal.sub : principal.id,
      expiresAt: principal.kind === 'token' ? principal.expiresAt : 0,
    });
  }

  /** Close with a protocol close code; pending output is written first. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.flush();
    this.#teardown();
    this.socket.close(code, reason);
  }

  /** The socket closed (either side): release everything. */
  onSocketClosed(): void {
    this.#teardown();
  }

  #dropSlowConsumer(): void {
    this.ctx.metrics.drops.inc({ reason: 'slow_consumer' });
    this.ctx.logger.warn({ session: this.id }, 'slow consumer disconnected');
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.#teardown();
    // The close frame queues behind unread data; if the peer is not reading it never arrives, so
    // the socket is destroyed shortly after and the client sees 1006 (also "reconnect").
    this.socket.close(CloseCodes.slowConsumer, 'slow consumer');
    setTimeout(() => this.socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = undefined;
    if (this.#subs) for (const sub of this.#subs.values()) if (sub) this.ctx.hub.unsubscribe(sub);
    this.#subs = undefined;
    // A closed connection leaves at once; only a silent one waits out the presence TTL.
    this.ctx.presence.dropConnection(this.id, this);
  }
}
