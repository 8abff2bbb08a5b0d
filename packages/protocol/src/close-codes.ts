/**
 * WebSocket close codes sent by the node, in 4000-4999. The range tells the client what to do
 * without knowing each code:
 * - 4000-4099: transient. Reconnect with jittered backoff and resume from the last position.
 * - 4100-4199: credentials. Fetch a fresh token, then reconnect and resume.
 * - 4400-4499: terminal. Do not reconnect; the same request would fail again.
 *
 * Codes the client may also see from the platform: 1000 normal, 1001 going away, 1006 abnormal
 * (no close frame: the TCP connection died; treat as transient), 1009 message too big (sent by `ws`
 * when a frame exceeds the limit; terminal), 1007 (sent by `ws` for a text frame that is not
 * valid UTF-8; terminal), 1011 server error (transient).
 */
export const CloseCodes = {
  /** The node is shutting down; reconnect (to another node behind the balancer). */
  shutdown: 4000,
  /** The client did not read fast enough and its outbound buffer passed the bound. */
  slowConsumer: 4001,
  /** No pong to the server's ping in time: the connection is presumed dead. */
  keepaliveTimeout: 4002,
  /** An unexpected server fault on this connection. */
  internalError: 4003,
  /** The client kept exceeding its rate limit after being told. */
  rateLimited: 4004,
  /** The token's issuer's keys (JWKS) could not be fetched: not the token's fault; reconnect later. */
  keysUnavailable: 4005,
  /** The connection's token expired without an in-band refresh. */
  tokenExpired: 4100,
  /** No `connect` message arrived in time after the upgrade. */
  connectTimeout: 4101,
  /** The token is invalid (bad signature, malformed, wrong algorithm). */
  unauthorized: 4401,
  /** The browser's Origin is not in the allowlist. */
  originNotAllowed: 4403,
  /**
   * The client broke the protocol in a way that is not recoverable: a binary frame, a request
   * before `connect`, or invalid frames past its allowance (`invalidFrameBurst`).
   */
  protocolViolation: 4400,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** What a client should do after a close with `code`. */
export type CloseAction = 'reconnect' | 'refresh-and-reconnect' | 'stop';

/** Map a close code to the client's action; unknown and platform codes default to reconnect. */
export function closeAction(code: number): CloseAction {
  if (code >= 4100 && code <= 4199) return 'refresh-and-reconnect';
  if (code >= 4400 && code <= 4499) return 'stop';
  if (code === 1009 || code === 1008 || code === 1007 || code === 1003 || code === 1002) return 'stop';
  return 'reconnect';
}
