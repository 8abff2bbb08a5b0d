import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes, decodeClientMessage, type ErrorCode } from '@inloop/protocol';
import type { Origins } from '../auth/origins.js';
import type { SessionContext } from '../session/context.js';
import { dispatch } from '../session/handlers.js';
import { Session, type SessionSocket } from '../session/session.js';
import { rawProblemResponse } from './http/problems.js';

/** The path of the WebSocket endpoint. */
export const WS_PATH = '/v1/ws';
/** How often sessions are checked for expired tokens and missed connect deadlines. */
const SWEEP_MS = 1000;

function reject(socket: Duplex, code: ErrorCode, detail?: string): void {
  socket.end(rawProblemResponse(code, detail));
}

/** Why an upgrade request is not a WebSocket handshake `ws` accepts (RFC 6455 4.2.1), or null. */
function malformedUpgrade(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'a WebSocket handshake is a GET';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Sec-WebSocket-Version must be 13';
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'Upgrade must be websocket';
  return null;
}

/**
 * The WebSocket transport: upgrades on `/v1/ws`, turns frames into protocol messages for the
 * session's handler table, and keeps connections honest (pings, connect deadline, token expiry).
 * It never touches topics or storage itself.
 */
export class WebSocketTransport {
  readonly sessions = new Set<Session>();
  readonly #wss: WebSocketServer;
  readonly #sweep: NodeJS.Timeout;
  #sweeps = 0;
  #draining = false;

  constructor(
    private readonly ctx: SessionContext,
    private readonly origins: Origins,
  ) {
    this.#wss = new WebSocketServer({
      noServer: true,
      // The frame limit is explicit: ws answers a larger frame with close code 1009.
      maxPayload: ctx.config.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#sweep = setInterval(() => this.#sweepSessions(), SWEEP_MS).unref();
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '').split('?', 1)[0];
      if (path !== WS_PATH) return reject(socket, 'not_found');
      if (!this.origins.allows(req.headers.origin, req.headers.host)) return reject(socket, 'origin_not_allowed');
      if (this.#draining) return reject(socket, 'unavailable');
      // What ws would refuse with an HTML page is refused here with a problem document.
      const malformed = malformedUpgrade(req);
      if (malformed) return reject(socket, 'bad_request', malformed);
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
    });
  }

  #accept(ws: WebSocket): void {
    const socket: SessionSocket = {
      // Text frames: the protocol is JSON lines, and browsers hand binary frames over as Blobs.
      send: (payload) => ws.send(payload, { binary: false }),
      close: (code, reason) => ws.close(code, reason),
      terminate: () => ws.terminate(),
      ping: () => ws.ping(),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    const session = new Session(socket, this.ctx);
    this.sessions.add(session);
    this.ctx.metrics.connections.inc({ transport: 'ws' });
    ws.on('message', (data, isBinary) =>
      this.#contained(session, () => this.#onMessage(session, data as Buffer, isBinary)),
    );
    ws.on('pong', () => session.heard());
    ws.on('error', (err) => this.ctx.logger.debug({ err, session: session.id }, 'websocket error'));
    ws.once('close', () => {
      this.sessions.delete(session);
      this.ctx.metrics.connections.dec({ transport: 'ws' });
      session.onSocketClosed();
    });
  }

  #onMessage(session: Session, data: Buffer, isBinary: boolean): void {
    if (session.closed) return;
    session.heard();
    if (isBinary) {
      session.reply(undefined, 'invalid_message', 'binary frames are not supported');
      return session.close(CloseCodes.protocolViolation, 'binary frame');
    }
    const decoded = decodeClientMessage(data.toString('utf8'), { maxDepth: this.ctx.config.maxJsonDepth });
    if (!decoded.ok) return session.invalidFrame(decoded.id, decoded.code, decoded.message);
    const message = decoded.message;
    const run = () =>
      dispatch(session, message).catch((err: unknown) => {
        this.ctx.logger.error({ err, session: session.id }, 'handler failed');
        session.close(CloseCodes.internalError, 'internal error');
      });
    // A client may pipeline messages right behind `connect`: hold them until the token is checked.
    if (session.connecting) session.connecting = session.connecting.then(run);
    else if (message.type === 'connect' && !session.principal) {
      session.connecting = run().finally(() => (session.connecting = null));
    } else void run();
  }

  /**
   * Run one connection's step so that a fault in it costs that connection alone (closed with
   * 4003), never the process: an exception thrown from a socket event or a timer is uncaught.
   */
  #contained(session: Session, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.ctx.metrics.faults.inc({ where: 'connection' });
      this.ctx.logger.error({ err, session: session.id }, 'connection step failed; connection closed');
      session.abort();
    }
  }

  #sweepSessions(): void {
    const now = Date.now();
    const ping = ++this.#sweeps % Math.max(1, Math.round(this.ctx.config.pingIntervalMs / SWEEP_MS)) === 0;
    for (const session of this.sessions) this.#contained(session, () => this.#sweepSession(session, now, ping));
  }

  #sweepSession(session: Session, now: number, ping: boolean): void {
    const p = session.principal;
    // A subscription under a token of its own ends when that token does; the connection stays.
    if (p) session.expireOwnTokens(now);
    if (!p) {
      if (now > session.connectDeadline) session.close(CloseCodes.connectTimeout, 'no connect message');
    } else if (p.kind === 'token' && p.expiresAt <= now) {
      session.reply(undefined, 'token_expired');
      session.close(CloseCodes.tokenExpired, 'token expired');
    } else if (ping) {
      if (!session.alive) {
        this.ctx.metrics.drops.inc({ reason: 'keepalive' });
        session.socket.terminate();
        return;
      }
      session.alive = false;
      session.socket.ping();
    }
  }

  /** Stop accepting and tell every client to reconnect elsewhere (close code 4000). */
  drain(): void {
    this.#draining = true;
    for (const session of this.sessions) session.close(CloseCodes.shutdown, 'node shutting down');
  }

  close(): void {
    clearInterval(this.#sweep);
    this.drain();
    this.#wss.close();
  }
}
