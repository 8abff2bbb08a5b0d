/** Connection states. `closed` is terminal: the client will not reconnect by itself. */
export const States = ['idle', 'connecting', 'connected', 'disconnected', 'closed'] as const;
export type ConnectionState = (typeof States)[number];

/** Why the state changed: every transition carries one of these. */
export type StateReasonCode =
  /** `connect()` was called. */
  | 'connect_requested'
  /** The node accepted the token. */
  | 'connected'
  /** The transport closed without a close code the node chose (network, 1006). */
  | 'transport_closed'
  /** The node closed with a code; see `closeCode`. */
  | 'server_closed'
  /** The app asked for a reconnect (`reconnect()`). */
  | 'reconnect_requested'
  /** Fetching a token failed; retried with backoff. */
  | 'token_fetch_failed'
  /** The node refused the token or origin; the client stops. */
  | 'unauthorized'
  /** `close()` was called. */
  | 'client_closed';

export interface StateReason {
  code: StateReasonCode;
  /** The WebSocket close code, when a close caused the change. */
  closeCode?: number;
  message: string;
}

export interface StateChange {
  from: ConnectionState;
  to: ConnectionState;
  reason: StateReason;
  /** For `disconnected`: ms until the next attempt. */
  retryInMs?: number;
}
