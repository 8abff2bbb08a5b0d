import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { problem } from '@inloop/protocol';
import type { Metrics } from '../metrics.js';
import { rawProblemResponse } from './http/problems.js';

/** Paths a reserve connection may reach: an orchestrator's probes. */
const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
/** What a refused client is told to wait before trying again. */
const RETRY_AFTER_MS = 1000;
/**
 * How long a refused socket is kept after its answer, reading and dropping what the client
 * sends: closing with unread input makes the kernel send a reset, and a reset can reach the
 * client before it has read the 503.
 */
const REFUSAL_GRACE_MS = 1000;
/** At most one "cap reached" warning per this interval, however many are refused. */
const WARN_EVERY_MS = 60_000;
const DETAIL = 'the node is at its connection limit; try again shortly or elsewhere';

/** Options of {@link ConnectionCap}. */
export interface ConnectionCapOptions {
  /** Open connections served in full; 0 sets no cap. */
  max: number;
  /** Connections above `max` that may reach only `/healthz` and `/readyz`. */
  reserve: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * A cap on the HTTP server's open connections, so that a flood of sockets (a slowloris client,
 * a reconnect storm) is refused with a 503 `unavailable` before the process runs out of
 * descriptors, instead of every client's connect failing after it has.
 *
 * A connection counts from accept to close, whatever it becomes (a request, an event stream,
 * a WebSocket). Past `max`, `reserve` more are accepted for the probes only, so an orchestrator
 * still sees the node alive while it is full; past both, a new connection is answered and closed
 * without reaching the HTTP parser. Connections already open are never touched.
 */
export class ConnectionCap {
  readonly #options: ConnectionCapOptions;
  readonly #probesOnly = new WeakSet<Duplex>();
  #open = 0;
  #warnedAt = -Infinity;

  constructor(options: ConnectionCapOptions) {
    this.#options = options;
  }

  /** Connections open now (reserve ones included). */
  get open(): number {
    return this.#open;
  }

  /**
   * Put the cap in front of `server`'s `connection`, `request` and `upgrade` listeners. Call
   * it once the routes and the WebSocket transport are attached: the listeners present then
   * are the ones gated. Also keeps an `accept` failure (out of descriptors after all) from
   * becoming an uncaught error.
   */
  attach(server: Server): void {
    server.on('error', (err: NodeJS.ErrnoException) => {
      // A failed listen is fastify's to report (listen() rejects).
      if (err.syscall === 'listen') return;
      if (err.syscall === 'accept') this.#warn({ err: err.code }, 'a connection could not be accepted');
      else this.#options.logger.error({ err }, 'http server error');
    });
    if (this.#options.max <= 0) return;
    gate(server, 'connection', (socket: Socket) => this.#admit(socket));
    gate(server, 'request', (req: IncomingMessage, res: ServerResponse) => this.#probeOnly(req, res));
    gate(server, 'upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (!this.#probesOnly.has(req.socket)) return true;
      this.#options.metrics.errors.inc({ code: 'unavailable' });
      socket.end(rawProblemResponse('unavailable', DETAIL, { retryAfterMs: RETRY_AFTER_MS }));
      return false;
    });
  }

  #admit(socket: Socket): boolean {
    const { max, reserve } = this.#options;
    if (this.#open >= max + reserve) {
      this.#refuse(socket);
      return false;
    }
    if (this.#open >= max) this.#probesOnly.add(socket);
    this.#open++;
    socket.once('close', () => this.#open--);
    return true;
  }

  /** Answer a connection past the cap and the reserve, without ever parsing its request. */
  #refuse(socket: Socket): void {
    this.#options.metrics.errors.inc({ code: 'unavailable' });
    this.#warn({ open: this.#open, max: this.#options.max }, 'connection cap reached; refusing new connections');
    socket.on('error', () => socket.destroy());
    socket.resume();
    socket.end(rawProblemResponse('unavailable', DETAIL, { retryAfterMs: RETRY_AFTER_MS }));
    setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
  }

  /** On a reserve connection, anything but a probe is refused (and the connection closed). */
  #probeOnly(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.#probesOnly.has(req.socket)) return true;
    if (PROBE_PATHS.has((req.url ?? '').split('?', 1)[0]!)) return true;
    this.#options.metrics.errors.inc({ code: 'unavailable' });
    const body = JSON.stringify(problem('unavailable', DETAIL, { retryAfterMs: RETRY_AFTER_MS }));
    res.shouldKeepAlive = false;
    res.writeHead(503, {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(body),
      'retry-after': String(Math.ceil(RETRY_AFTER_MS / 1000)),
    });
    res.end(body);
    return false;
  }

  #warn(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.#warnedAt < WARN_EVERY_MS) return;
    this.#warnedAt = now;
    this.#options.logger.warn(fields, message);
  }
}

/**
 * Let `event`'s current listeners run only when `pass` says so. Node's HTTP server parses a
 * socket from its own `connection` listener, registered first; wrapping is the one way to keep
 * a refused socket from ever reaching it.
 */
function gate<A extends unknown[]>(server: Server, event: string, pass: (...args: A) => boolean): void {
  const listeners = server.rawListeners(event) as ((...args: A) => void)[];
  server.removeAllListeners(event);
  server.on(event, (...args: A) => {
    if (!pass(...args)) return;
    for (const listener of listeners) listener.apply(server, args);
  });
}
