import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { parseEventId, type ErrorCode, type Position, type ServerMessage } from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import type { PublicationCodec, SubscribedInfo } from '../domain/outlet.js';
import type { PresenceWatcher } from '../domain/presence.js';
import type { Publication } from '../ports/broker.js';
import type { Subscription } from '../domain/subscription.js';
import { redactUrl } from '../logger.js';
import { refusalOf } from '../errors.js';
import { sseCodec, sseEvent } from '../session/codecs.js';
import { Connection, Farewells, SWEEP_MS, type Framing } from '../session/connection.js';
import type { SessionContext } from '../session/context.js';
import type { Authenticator } from './http/authenticate.js';
import { HttpProblem } from './http/problems.js';
import { documented, problems, StreamQuery, TopicParams } from './http/schemas.js';

/** Milliseconds a browser's EventSource waits before reconnecting (sent as `retry:`). */
const RETRY_MS = 1000;

/** The resume position of a stream: `Last-Event-ID` wins over `?since=`; malformed is a 400. */
export function resumePosition(header: string | string[] | undefined, query: string | undefined): Position | undefined {
  const raw = (typeof header === 'string' && header.length > 0 ? header : undefined) ?? query;
  if (raw === undefined) return undefined;
  const since = parseEventId(raw);
  if (!since) throw new HttpProblem('invalid_position', 'expected epoch:offset');
  return since;
}

/** How a stream encodes and when it ends. */
export interface StreamOptions {
  codec: PublicationCodec;
  /** Send `ready` / `reset` when the subscription is in sync (topic streams). */
  announce: boolean;
  /** End the stream once a publication like this has been written (a job's terminal event). */
  endAfter?: (p: Publication) => boolean;
  /** Also watch the topic's presence once in sync: `presence.state`, then `presence.diff` events. */
  presence?: boolean;
}

const HEARTBEAT = Buffer.from(': hb\n\n');

/** An SSE response as the connection core writes to it: one chunk per tick, `disconnect` at the end. */
function sseFraming(res: ServerResponse): Framing {
  return {
    write: (chunks) => void res.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)),
    end: (farewell) => void res.end(sseEvent('disconnect', { code: farewell.code, reconnect: farewell.reconnect })),
    destroy: () => void res.destroy(),
    get bufferedBytes() {
      return res.writableLength;
    },
    onDrain: (listener) => void res.on('drain', listener),
  };
}

/** One SSE response subscribed to one topic: a {@link Connection} whose framing is an event stream. */
class SseConnection extends Connection implements PresenceWatcher {
  readonly id = randomBytes(9).toString('base64url');
  subscription: Subscription | null = null;
  /** Undoes what the stream carries besides a subscription (a stream watch). */
  undo: (() => void) | null = null;
  /** Watching the topic's presence (`?presence=1`). */
  watching = false;
  #ending = false;

  constructor(
    readonly res: ServerResponse,
    principal: Principal,
    private readonly ctx: SessionContext,
    private readonly onDone: (c: SseConnection) => void,
    private readonly options: StreamOptions,
  ) {
    super(sseFraming(res), ctx.core);
    this.principal = principal;
  }

  get codec(): PublicationCodec {
    return this.options.codec;
  }

  get ending(): boolean {
    return this.#ending;
  }

  /** The stream's token subject; null for an API key. */
  get subject(): string | null {
    return this.principal?.kind === 'token' ? this.principal.sub : null;
  }

  override push(chunk: Buffer, publications?: readonly Publication[]): void {
    if (this.closed || this.#ending) return;
    super.push(chunk);
    if (publications && this.options.endAfter && publications.some(this.options.endAfter)) this.finish();
  }

  send(message: ServerMessage): void {
    this.push(Buffer.from(sseEvent(message.type, message)));
  }

  /** End after what is queued has been written. */
  finish(): void {
    if (this.closed) return;
    this.#ending = true;
    this.flush();
    this.transportClosed();
    this.res.end();
  }

  subscribed(info: SubscribedInfo): void {
    if (!this.options.announce) return;
    const { topic, epoch, offset, recovered, replayed } = info;
    this.push(Buffer.from(sseEvent(recovered ? 'ready' : 'reset', { topic, epoch, offset, recovered, replayed })));
  }

  /**
   * End the stream with a final `disconnect` event saying why. `forbidden` (access withdrawn) is
   * not worth reconnecting for; the others are (with a fresh token after `token_expired`).
   */
  end(code: 'token_expired' | 'shutdown' | 'forbidden'): void {
    this.close(
      code === 'shutdown' ? Farewells.shutdown : code === 'forbidden' ? Farewells.forbidden : Farewells.tokenExpired,
    );
  }

  subjectFor(): string | null {
    return this.subject;
  }

  revoked(_topic: string, code: ErrorCode): void {
    this.end(code === 'token_expired' ? code : 'forbidden');
  }

  presenceEnded(_topic: string, code: ErrorCode): void {
    this.end(code === 'token_expired' ? code : 'forbidden');
  }

  protected tick(_now: number, beat: number): void {
    if (beat % Math.max(1, Math.round(this.ctx.config.sseHeartbeatMs / SWEEP_MS)) === 0) this.push(HEARTBEAT);
  }

  protected released(): void {
    this.onDone(this);
  }

  protected describe(): string {
    return `sse ${this.id}`;
  }
}

/**
 * `GET /v1/topics/{topic}/stream`: a receive-only subscription over Server-Sent Events.
 * Event ids are `epoch:offset`; `Last-Event-ID` (or `?since=`) resumes. Heartbeat comments keep
 * proxies from timing the stream out.
 */
export class SseTransport {
  readonly connections = new Set<SseConnection>();
  #draining = false;

  constructor(private readonly ctx: SessionContext) {}

  routes(app: FastifyInstance, auth: Authenticator): void {
    app.get<{ Params: Static<typeof TopicParams>; Querystring: Static<typeof StreamQuery> }>(
      '/v1/topics/:topic/stream',
      {
        schema: documented({
          summary: 'Subscribe over Server-Sent Events',
          description:
            'Events: `ready` or `reset` first, then `pub` (id `epoch:offset`), `disconnect` before the node ends the stream. Resume with `Last-Event-ID` or `?since=epoch:offset`. With `?presence=1`, `presence.state` once in sync and `presence.diff` on every change.',
          params: TopicParams,
          querystring: StreamQuery,
          response: { 200: { type: 'string', description: 'text/event-stream' }, ...problems },
        }),
      },
      async (request, reply) => {
        if (this.#draining) throw new HttpProblem('unavailable');
        const principal = await auth.streamPrincipal(request);
        const { topic } = request.params;
        const refusal = await this.ctx.access.check(principal, 'subscribe', topic);
        if (refusal) throw new HttpProblem(refusal);
        const presence = request.query.presence === '1';
        const presenceRefusal = presence ? await this.ctx.access.check(principal, 'presence', topic) : null;
        if (presenceRefusal) throw new HttpProblem(presenceRefusal);
        const since = resumePosition(request.headers['last-event-id'], request.query.since);
        await this.open(request, reply, principal, topic, since, { codec: sseCodec, announce: true, presence });
      },
    );
  }

  /**
   * Turn the reply into an event stream subscribed to `topic` from `since`; `preamble` is written
   * first (a job's snapshot). Resolves once the subscription is in sync (or the stream is gone).
   */
  async open(
    request: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    topic: string,
    since: Position | undefined,
    options: StreamOptions,
    preamble?: string,
  ): Promise<SseConnection | null> {
    const conn = this.#begin(request, reply, principal, options, topic, since !== undefined, preamble);
    if (!conn) return null;
    try {
      conn.subscription = await this.ctx.hub.subscribe(conn, topic, undefined, since);
      if (conn.closed && conn.subscription) this.ctx.hub.unsubscribe(conn.subscription);
      if (options.presence && !conn.closed) {
        const { presence } = this.ctx;
        await presence.ready(topic);
        if (!conn.closed) {
          conn.watching = true;
          conn.send(presence.watch(topic, conn));
        }
      }
    } catch (err) {
      request.log.error({ err }, 'sse subscribe failed');
      conn.close({ ...Farewells.internal, code: 'unavailable' });
    }
    return conn;
  }

  /**
   * Turn the reply into an event stream that carries one stream watch (docs/streams.md) rather
   * than a topic: `start` sets the watch up on the connection and returns its undoing, run when
   * the response goes; the response ends once the stream has (`stream.end`, see `endAfter`).
   */
  async openWatch(
    request: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    codec: PublicationCodec,
    start: (
      conn: Pick<SseConnection, 'codec' | 'push' | 'closed' | 'congested' | 'drain' | 'finish' | 'end'>,
    ) => Promise<() => void>,
  ): Promise<void> {
    const conn = this.#begin(request, reply, principal, { codec, announce: false }, null, false);
    if (!conn) return;
    try {
      conn.undo = await start(conn);
      if (conn.closed) conn.undo();
    } catch (err) {
      if (conn.closed) return;
      const refusal = refusalOf(err);
      if (!refusal) request.log.error({ err }, 'sse stream watch failed');
      conn.close({ ...Farewells.internal, code: refusal?.code ?? 'unavailable' });
    }
  }

  #begin(
    request: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    options: StreamOptions,
    topic: string | null,
    resume: boolean,
    preamble?: string,
  ): SseConnection | null {
    if (this.#draining) throw new HttpProblem('unavailable');
    const headers = {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    };
    // HEAD (fastify exposes one for every GET) gets the stream's headers and no stream: held
    // open, it would be a subscription nobody can read.
    if (request.method === 'HEAD') {
      void reply.headers(headers).code(200).send();
      return null;
    }
    request.log.debug({ url: redactUrl(request.url), topic, resume }, 'sse stream opened');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...headers, connection: 'keep-alive' });
    res.write(`retry: ${RETRY_MS}\n\n`);
    const conn = new SseConnection(res, principal, this.ctx, (c) => this.#forget(c), options);
    this.connections.add(conn);
    this.ctx.connections.add(conn);
    // The preamble (a job's snapshot) counts against the budget like everything else.
    if (preamble) conn.push(Buffer.from(preamble));
    this.ctx.metrics.connections.inc({ transport: 'sse' });
    request.raw.socket.setNoDelay(true);
    // A stream is quiet between heartbeats by design; httpIdleTimeoutMs is for requests.
    request.raw.socket.setTimeout(0);
    res.on('close', () => conn.transportClosed());
    return conn;
  }

  #forget(conn: SseConnection): void {
    if (!this.connections.delete(conn)) return;
    this.ctx.connections.delete(conn);
    if (conn.watching) this.ctx.presence.dropConnection(conn.id, conn);
    this.ctx.metrics.connections.dec({ transport: 'sse' });
    if (conn.subscription) this.ctx.hub.unsubscribe(conn.subscription);
    conn.undo?.();
  }

  /** Tell every stream the node is going away; clients reconnect elsewhere with Last-Event-ID. */
  drain(): void {
    this.#draining = true;
    for (const c of [...this.connections]) this.ctx.connections.contained(c, () => c.end('shutdown'));
  }

  close(): void {
    this.drain();
  }
}
