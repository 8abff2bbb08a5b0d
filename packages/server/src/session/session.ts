import { randomBytes } from 'node:crypto';
import {
  CloseCodes,
  ErrorCatalog,
  PROTOCOL_VERSION,
  type ErrorCode,
  type ServerMessage,
  type StreamRef,
} from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import type { SubscribedInfo } from '../domain/outlet.js';
import { TokenBucket, type RateAction } from '../domain/rate-limits.js';
import type { Subscription } from '../domain/subscription.js';
import type { StreamWatch } from '../domain/streams/watchers.js';
import { encodeWs, wsCodec } from './codecs.js';
import { Connection, SWEEP_MS, type Framing } from './connection.js';
import type { SessionContext } from './context.js';

/** A WebSocket's framing: a {@link Framing} that can also ping (the transport sets `heard`). */
export interface SessionFraming extends Framing {
  ping(): void;
}

/** A stream watch's right: the stream, and the principal of the token `stream.subscribe` carried (null: the connection's). */
export interface StreamGrant {
  ref: StreamRef;
  own: Principal | null;
}

/** Rate-limited requests tolerated in a row before the connection is closed as abusive. */
const RATE_LIMIT_STRIKES = 1000;

/**
 * One WebSocket connection: a {@link Connection} (one outbound queue, one budget) with a
 * principal, subscriptions and the protocol's requests. Messages are dispatched to the handler
 * table in `handlers.ts`; replies and publications are queued and written once per tick.
 */
export class Session extends Connection {
  readonly id = randomBytes(9).toString('base64url');
  readonly codec = wsCodec;
  readonly connectDeadline: number;
  /** Set while the `connect` message is being verified; later messages wait for it. */
  connecting: Promise<void> | null = null;
  /** Answered the last ping. */
  alive = true;
  #subs: Map<string, Subscription | null> | undefined;
  #streams: Map<string, StreamWatch | null> | undefined;
  #streamGrants: Map<string, StreamGrant> | undefined;
  /** The allowance of invalid frames: each takes one; the one that finds it empty closes. */
  #invalidFrames: TokenBucket | undefined;
  #ownTokens: Map<string, Principal> | undefined;
  #strikes = 0;

  constructor(
    override readonly framing: SessionFraming,
    readonly ctx: SessionContext,
  ) {
    super(framing, ctx.core);
    this.connectDeadline = Date.now() + ctx.config.connectTimeoutMs;
  }

  /** Stream watches by stream key; null while a `stream.subscribe` is in progress. */
  get streamWatches(): Map<string, StreamWatch | null> {
    return (this.#streams ??= new Map());
  }

  /** What each live stream watch (by key) was granted on: a refresh and a token's expiry re-check it. */
  get streamGrants(): Map<string, StreamGrant> {
    return (this.#streamGrants ??= new Map());
  }

  /**
   * End the watch of the stream `key` at the node's initiative, telling the client why with a
   * `stream.unsubscribed` that carries `code` and no id. The stream and the connection carry on.
   */
  endStreamWatch(key: string, code: ErrorCode): void {
    const watch = this.#streams?.get(key);
    if (!watch) return;
    this.#streams!.delete(key);
    this.#streamGrants?.delete(key);
    this.ctx.streams.watchers.unwatch(watch);
    this.push(this.codec.message({ type: 'stream.unsubscribed', stream: key, code }));
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

  /** End the subscriptions and stream watches whose own token has expired by `now` (`token_expired`). */
  expireOwnTokens(now: number): void {
    if (this.#ownTokens) {
      for (const [topic, grant] of this.#ownTokens) {
        if (grant.kind === 'token' && grant.expiresAt <= now) this.endSubscription(topic, 'token_expired');
      }
    }
    if (this.#streamGrants) {
      for (const [key, { own }] of this.#streamGrants) {
        if (own?.kind === 'token' && own.expiresAt <= now) this.endStreamWatch(key, 'token_expired');
      }
    }
  }

  get subscriptionCount(): number {
    return (this.#subs?.size ?? 0) + (this.#streams?.size ?? 0);
  }

  send(message: ServerMessage): void {
    this.push(encodeWs(message));
  }

  reply(id: number | undefined, code: ErrorCode, message: string = ErrorCatalog[code].title): void {
    this.ctx.metrics.errors.inc({ code });
    this.send(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
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
    if (++this.#strikes >= RATE_LIMIT_STRIKES) this.closeWith(CloseCodes.rateLimited, 'rate limit exceeded');
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
      this.closeWith(CloseCodes.protocolViolation, 'too many invalid frames');
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
  closeWith(code: number, reason: string): void {
    this.close({ closeCode: code, reason, code: 'internal', reconnect: true });
  }

  /** The token expired without a refresh: say so, then close with 4100. */
  protected override expired(): void {
    this.reply(undefined, 'token_expired');
    super.expired();
  }

  protected tick(now: number, beat: number): void {
    if (!this.principal) {
      if (now > this.connectDeadline) this.closeWith(CloseCodes.connectTimeout, 'no connect message');
      return;
    }
    // A subscription under a token of its own ends when that token does; the connection stays.
    this.expireOwnTokens(now);
    if (beat % Math.max(1, Math.round(this.ctx.config.pingIntervalMs / SWEEP_MS)) !== 0) return;
    if (!this.alive) {
      this.ctx.metrics.drops.inc({ reason: 'keepalive' });
      this.framing.destroy();
      return;
    }
    this.alive = false;
    this.framing.ping();
  }

  protected released(): void {
    if (this.#subs) for (const sub of this.#subs.values()) if (sub) this.ctx.hub.unsubscribe(sub);
    this.#subs = undefined;
    // Closing a watcher never stops a stream: the watch just ends.
    if (this.#streams) for (const w of this.#streams.values()) if (w) this.ctx.streams.watchers.unwatch(w);
    this.#streams = undefined;
    this.#streamGrants = undefined;
    // A closed connection leaves at once; only a silent one waits out the presence TTL.
    this.ctx.presence.dropConnection(this.id, this);
  }

  protected describe(): string {
    return `ws ${this.id}`;
  }
}
