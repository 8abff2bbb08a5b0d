import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CloseCodes, decodeClientMessage, type ErrorCode } from '@inloop/protocol';
import type { Origins } from '../auth/origins.js';
import { Farewells, type Farewell } from '../session/connection.js';
import type { SessionContext } from '../session/context.js';
import { joinLines } from '../session/codecs.js';
import { dispatch } from '../session/handlers.js';
import { Session, type SessionFraming } from '../session/session.js';
import { rawProblemResponse } from './http/problems.js';

/** The path of the WebSocket endpoint. */
export const WS_PATH = '/v1/ws';

/** How long a peer has to answer the node's close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** Where a socket keeps its session, for the shared listeners. */
const SESSION = Symbol('session');
const sessionOf = (ws: WebSocket): Session => (ws as WebSocket & { [SESSION]: Session })[SESSION];

const OPEN = 1;

let lastPayload: Buffer | undefined;
let lastFrame: Buffer = Buffer.alloc(0);

/**
 * An unmasked, final text frame (RFC 6455 5.2) carrying `payload`, header and payload in one
 * buffer. The last one is reused: in a fan-out every subscriber of a batch is handed the same
 * payload buffer, so the frame is built once per batch and each socket gets one plain `write` (no
 * cork, no two-buffer `writev`), which is most of what a delivery costs at low rates.
 */
function textFrame(payload: Buffer): Buffer {
  if (payload === lastPayload) return lastFrame;
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  lastPayload = payload;
  lastFrame = frame;
  return frame;
}

/**
 * A WebSocket as the connection core writes to it: text frames (the protocol is JSON lines, and
 * browsers hand binary frames over as Blobs), the socket's own buffer as `bufferedAmount`, and
 * the raw socket's `drain` to pace replays. A class, not closures: one small object per idle
 * connection is what keeps 10,000 of them cheap.
 */
class WebSocketFraming implements SessionFraming {
  constructor(
    private readonly ws: WebSocket,
    private readonly raw: Duplex,
  ) {}

  /**
   * One unmasked text frame straight onto the socket: the frame is shared by every subscriber
   * written the same batch, so a fan-out frames each payload once instead of once per socket as
   * `ws.send` would (its options objects and header buffers, per send). Safe beside `ws`'s own
   * writes because nothing here queues in its sender (no compression, no Blobs): every write is
   * synchronous and in order. A socket that is no longer open gets nothing.
   */
  write(chunks: readonly Buffer[]): void {
    if (this.ws.readyState !== OPEN) return;
    this.raw.write(textFrame(joinLines(chunks)));
  }

  end(farewell: Farewell): void {
    this.ws.close(farewell.closeCode, farewell.reason);
    // A peer that never answers the close frame does not hold the socket for ws's 30 s.
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }

  ping(): void {
    this.ws.ping();
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  onDrain(listener: () => void): void {
    this.raw.on('drain', listener);
  }
}

/** Node's own symbol under which a socket keeps its idle timer (`setTimeout`), if this Node has one. */
let timerKey: symbol | null | undefined;

/**
 * Drop the socket's reference to its cleared idle timer. `setTimeout(0)` clears the timer but
 * keeps it on the socket, and Node walks to it and "refreshes" it on every write: about 2.5 % of
 * a fan-out's CPU at 75 publications/s (bench/fanout.ts). Found by its description, which Node
 * has used since v10; on a Node without it nothing changes.
 */
function forgetIdleTimer(raw: Duplex): void {
  if (timerKey === undefined)
    timerKey = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'timeout') ?? null;
  if (timerKey !== null && (raw as unknown as Record<symbol, unknown>)[timerKey] !== undefined)
    (raw as unknown as Record<symbol, unknown>)[timerKey] = null;
}

function reject(socket: Duplex, code: ErrorCode, detail?: string): void {
  socket.end(rawProblemResponse(code, detail));
}

/**
 * A browser on an origin that is not allowed: a refused upgrade (HTTP 403) reaches the page as a
 * bare 1006, which a client cannot tell from a network fault and retries forever. So the handshake
 * completes and the socket is closed at once with 4403, which says "stop". No session is made and
 * no listener is attached, so nothing the page sends is ever read.
 */
function refuseOrigin(ws: WebSocket): void {
  ws.on('error', () => {});
  ws.close(CloseCodes.originNotAllowed, 'origin_not_allowed');
}

/** Why an upgrade request is not a WebSocket handshake `ws` accepts (RFC 6455 4.2.1), or null. */
function malformedUpgrade(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'a WebSocket handshake is a GET';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Sec-WebSocket-Version must be 13';
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'Upgrade must be websocket';
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    const names = protocols.split(',').map((p) => p.trim());
    if (!names.every((p) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p)) || new Set(names).size !== names.length)
      return 'Sec-WebSocket-Protocol must be a list of distinct tokens';
  }
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
  #draining = false;
  /**
   * The socket listeners, made once and shared by every connection (`this` is the socket, its
   * session found under {@link SESSION}): per-connection closures are most of an idle
   * connection's memory.
   */
  readonly #listeners: {
    message(this: WebSocket, data: RawData, isBinary: boolean): void;
    pong(this: WebSocket): void;
    error(this: WebSocket, err: Error): void;
    close(this: WebSocket): void;
  };

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
    const onMessage = (session: Session, data: RawData, isBinary: boolean): void =>
      this.#contained(session, () => this.#onMessage(session, data as Buffer, isBinary));
    const onClose = (session: Session): void => {
      this.sessions.delete(session);
      ctx.connections.delete(session);
      ctx.metrics.connections.dec({ transport: 'ws' });
      session.transportClosed();
    };
    this.#listeners = {
      message(data, isBinary) {
        onMessage(sessionOf(this), data, isBinary);
      },
      pong() {
        sessionOf(this).heard();
      },
      error(err) {
        ctx.logger.debug({ err, session: sessionOf(this).id }, 'websocket error');
      },
      close() {
        onClose(sessionOf(this));
      },
    };
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '').split('?', 1)[0];
      if (path !== WS_PATH) return reject(socket, 'not_found');
      // What ws would refuse with an HTML page is refused here with a problem document.
      const malformed = malformedUpgrade(req);
      const allowed = this.origins.allows(req.headers.origin, req.headers.host);
      if (!allowed && !malformed) return this.#wss.handleUpgrade(req, socket, head, refuseOrigin);
      if (!allowed) return reject(socket, 'origin_not_allowed');
      if (this.#draining) return reject(socket, 'unavailable');
      if (malformed) return reject(socket, 'bad_request', malformed);
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, socket));
    });
  }

  #accept(ws: WebSocket, raw: Duplex): void {
    // The HTTP server's idle timer stays armed on an upgraded socket (with no listener left) and
    // every write re-arms it; the session's pings and deadlines watch the connection from here.
    (raw as Partial<Socket>).setTimeout?.(0);
    forgetIdleTimer(raw);
    const session = new Session(new WebSocketFraming(ws, raw), this.ctx);
    const tagged = Object.assign(ws, { [SESSION]: session });
    this.sessions.add(session);
    this.ctx.connections.add(session);
    this.ctx.metrics.connections.inc({ transport: 'ws' });
    const on = this.#listeners;
    tagged.on('message', on.message);
    tagged.on('pong', on.pong);
    tagged.on('error', on.error);
    tagged.once('close', on.close);
  }

  #onMessage(session: Session, data: Buffer, isBinary: boolean): void {
    if (session.closed) return;
    session.heard();
    if (isBinary) {
      session.reply(undefined, 'invalid_message', 'binary frames are not supported');
      return session.closeWith(CloseCodes.protocolViolation, 'binary frame');
    }
    const decoded = decodeClientMessage(data.toString('utf8'), { maxDepth: this.ctx.config.maxJsonDepth });
    if (!decoded.ok) {
      // A `connect` whose token cannot even be read fails like one that does not verify (4401).
      if (!session.principal && decoded.code === 'unauthorized') {
        session.reply(undefined, 'unauthorized', decoded.message);
        return session.closeWith(CloseCodes.unauthorized, 'unauthorized');
      }
      return session.invalidFrame(decoded.id, decoded.code, decoded.message);
    }
    const message = decoded.message;
    const run = () =>
      dispatch(session, message).catch((err: unknown) => {
        this.ctx.logger.error({ err, session: session.id }, 'handler failed');
        session.closeWith(CloseCodes.internalError, 'internal error');
      });
    // A client may pipeline messages right behind `connect`: hold them until the token is checked.
    if (session.connecting) session.connecting = session.connecting.then(run);
    else if (message.type === 'connect' && !session.principal) {
      session.connecting = run().finally(() => (session.connecting = null));
    } else void run();
  }

  /**
   * Run one connection's step so that a fault in it costs that connection alone (closed with
   * 4003), never the process: an exception thrown from a socket event is uncaught.
   */
  #contained(session: Session, step: () => void): void {
    this.ctx.connections.contained(session, step);
  }

  /** Stop accepting and tell every client to reconnect elsewhere (close code 4000). */
  drain(): void {
    this.#draining = true;
    for (const session of this.sessions) this.#contained(session, () => session.close(Farewells.shutdown));
  }

  close(): void {
    this.drain();
    this.#wss.close();
  }
}
