import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { parseEventId, type ErrorCode, type Position } from '@inloop/protocol';
import type { Principal } from '../auth/principal.js';
import type { Outlet, PublicationCodec, SubscribedInfo } from '../domain/outlet.js';
import type { Publication } from '../ports/broker.js';
import type { Subscription } from '../domain/subscription.js';
import type { Flushable } from '../domain/ticker.js';
import { redactUrl } from '../logger.js';
import { sseCodec, sseEvent } from '../session/codecs.js';
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

/** How often a congested stream is checked while a replay waits for it. */
const DRAIN_POLL_MS = 5;

/** How a stream encodes and when it ends. */
export interface StreamOptions {
  codec: PublicationCodec;
  /** Send `ready` / `reset` when the subscription is in sync (topic streams). */
  announce: boolean;
  /** End the stream once a publication like this has been written (a job's terminal event). */
  endAfter?: (p: Publication) => boolean;
}

/** One SSE response subscribed to one topic. */
class SseConnection implements Outlet, Flushable {
  closed = false;
  subscription: Subscription | null = null;
  #queue: Buffer[] | undefined;
  #queuedBytes = 0;
  #ending = false;

  constructor(
    readonly res: ServerResponse,
    readonly principal: Principal,
    private readonly ctx: SessionContext,
    private readonly onDone: (c: SseConnection) => void,
    private readonly options: StreamOptions,
  ) {}

  get codec(): PublicationCodec {
    return this.options.codec;
  }

  get ending(): boolean {
    return this.#ending;
  }

  push(chunk: Buffer, publications?: readonly Publication[]): void {
    if (this.closed || this.#ending) return;
    if (publications && this.options.endAfter && publications.some(this.options.endAfter)) this.#ending = true;
    (this.#queue ??= []).push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes + this.res.writableLength > this.ctx.config.maxBufferedBytes) {
      // Nothing can be said to a peer that is not reading: drop it; its EventSource (or the SDK)
      // reconnects with Last-Event-ID and resumes from history.
      this.ctx.metrics.drops.inc({ reason: 'slow_consumer' });
      this.res.destroy();
      this.done();
      return;
    }
    this.ctx.hub.ticker.schedule(this);
  }

  flush(): void {
    const queue = this.#queue;
    if (!queue || this.closed) return;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    const bytes = queue.length === 1 ? queue[0]! : Buffer.concat(queue);
    if (this.#ending) {
      this.res.end(bytes);
      this.done();
    } else this.res.write(bytes);
  }

  /** End after what is queued has been written. */
  finish(): void {
    this.#ending = true;
    if (this.#queue) this.ctx.hub.ticker.schedule(this);
    else {
      this.res.end();
      this.done();
    }
  }

  get congested(): boolean {
    return this.#queuedBytes + this.res.writableLength > this.ctx.config.maxBufferedBytes / 2;
  }

  async drain(): Promise<void> {
    this.flush();
    while (!this.closed && this.congested) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }

  subscribed(info: SubscribedInfo): void {
    if (!this.options.announce) return;
    const { topic, epoch, offset, recovered, replayed } = info;
    this.push(Buffer.from(sseEvent(recovered ? 'ready' : 'reset', { topic, epoch, offset, recovered, replayed })));
  }

  /** A fault while writing (see Flushable): end the stream with `disconnect` code `internal`. */
  abort(): void {
    if (this.closed) return;
    this.#queue = undefined;
    this.res.end(sseEvent('disconnect', { code: 'internal', reconnect: true }));
    this.done();
  }

  /**
   * End the stream with a final `disconnect` event saying why. `forbidden` (access withdrawn) is
   * not worth reconnecting for; the others are (with a fresh token after `token_expired`).
   */
  end(code: 'token_expired' | 'shutdown' | 'forbidden'): void {
    if (this.closed) return;
    this.flush();
    this.res.end(sseEvent('disconnect', { code, reconnect: code !== 'forbidden' }));
    this.done();
  }

  subjectFor(): string | null {
    return this.principal.kind === 'token' ? this.principal.sub : null;
  }

  revoked(_topic: string, code: ErrorCode): void {
    this.end(code === 'token_expired' ? code : 'forbidden');
  }

  done(): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = undefined;
    this.onDone(this);
  }
}

/**
 * `GET /v1/topics/{topic}/stream`: a receive-only subscription over Server-Sent Events.
 * Event ids are `epoch:offset`; `Last-Event-ID` (or `?since=`) resumes. Heartbeat comments keep
 * proxies from timing the stream out.
 */
export class SseTransport {
  readonly connections = new Set<SseConnection>();
  readonly #timer: NodeJS.Timeout;
  #beat = 0;
  #draining = false;

  constructor(private readonly ctx: SessionContext) {
    const beatEvery = Math.max(1, Math.round(ctx.config.sseHeartbeatMs / 1000));
    this.#timer = setInterval(() => {
      const now = Date.now();
      const beat = ++this.#beat % beatEvery === 0;
      for (const c of this.connections) {
        // A fault in one stream's step ends that stream, never the timer or the process.
        try {
          if (c.principal.kind === 'token' && c.principal.expiresAt <= now) c.end('token_expired');
          else if (beat) c.res.write(': hb\n\n');
        } catch (err) {
          ctx.metrics.faults.inc({ where: 'connection' });
          ctx.logger.error({ err }, 'stream step failed; stream ended');
          c.abort();
        }
      }
    }, 1000).unref();
  }

  routes(app: FastifyInstance, auth: Authenticator): void {
    app.get<{ Params: Static<typeof TopicParams>; Querystring: Static<typeof StreamQuery> }>(
      '/v1/topics/:topic/stream',
      {
        schema: documented({
          summary: 'Subscribe over Server-Sent Events',
          description:
            'Events: `ready` or `reset` first, then `pub` (id `epoch:offset`), `disconnect` before the node ends the stream. Resume with `Last-Event-ID` or `?since=epoch:offset`.',
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
        const since = resumePosition(request.headers['last-event-id'], request.query.since);
        await this.open(request, reply, principal, topic, since, { codec: sseCodec, announce: true });
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
  ): Promise<SseConnection> {
    if (this.#draining) throw new HttpProblem('unavailable');
    request.log.debug({ url: redactUrl(request.url), topic, resume: since !== undefined }, 'sse stream opened');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write(`retry: ${RETRY_MS}\n\n${preamble ?? ''}`);
    const conn = new SseConnection(res, principal, this.ctx, (c) => this.#forget(c), options);
    this.connections.add(conn);
    this.ctx.metrics.connections.inc({ transport: 'sse' });
    request.raw.socket.setNoDelay(true);
    // A stream is quiet between heartbeats by design; httpIdleTimeoutMs is for requests.
    request.raw.socket.setTimeout(0);
    res.on('close', () => conn.done());
    try {
      conn.subscription = await this.ctx.hub.subscribe(conn, topic, undefined, since);
      if (conn.closed && conn.subscription) this.ctx.hub.unsubscribe(conn.subscription);
    } catch (err) {
      request.log.error({ err }, 'sse subscribe failed');
      res.end(sseEvent('disconnect', { code: 'unavailable', reconnect: true }));
      conn.done();
    }
    return conn;
  }

  #forget(conn: SseConnection): void {
    if (!this.connections.delete(conn)) return;
    this.ctx.metrics.connections.dec({ transport: 'sse' });
    if (conn.subscription) this.ctx.hub.unsubscribe(conn.subscription);
  }

  /** Tell every stream the node is going away; clients reconnect elsewhere with Last-Event-ID. */
  drain(): void {
    this.#draining = true;
    for (const c of this.connections) c.end('shutdown');
  }

  close(): void {
    clearInterval(this.#timer);
    this.drain();
  }
}
