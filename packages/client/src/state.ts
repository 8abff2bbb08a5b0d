/**
 * Connection states:
 * - `idle`: not started (`connect()` or a first `subscribe()` starts it);
 * - `connecting`: the first connection is being made;
 * - `connected`: live;
 * - `reconnecting`: the connection was lost (or the first attempt failed); waiting for the next
 *   attempt or making it. What was sent meanwhile waits, and is resent once connected;
 * - `offline`: as `reconnecting`, and the browser says it has no network: attempts slow down until
 *   it says `online`, then one is made at once;
 * - `closed`: terminal, the client will not reconnect by itself (`close()`, or a refusal).
 */
export const States = ['idle', 'connecting', 'connected', 'reconnecting', 'offline', 'closed'] as const;
export type ConnectionState = (typeof States)[number];

/** Why the state changed: every transition carries one of these. */
export type StateReasonCode =
  /** `connect()` was called. */
  | 'connect_requested'
  /** The browser said its network is gone (`offline`). */
  | 'network_offline'
  /** The browser said its network is back (`online`), or the page was shown again: an attempt now. */
  | 'network_online'
  /** An attempt did not reach `connected` within its deadline (a black-holed network). */
  | 'connect_timeout'
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
  /** For `reconnecting` and `offline`: ms until the next attempt. */
  retryInMs?: number;
}
