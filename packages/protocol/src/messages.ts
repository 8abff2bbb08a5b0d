import type { ErrorCode } from './errors.js';

/**
 * A position in a topic's history. `offset` counts stored publications from 1; `epoch` names the
 * history those offsets belong to and changes whenever that history may have been lost, so an
 * offset is only meaningful together with its epoch.
 */
export interface Position {
  epoch: string;
  offset: number;
}

/** Arbitrary JSON payload. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// ---------------------------------------------------------------------------------------------
// Client -> server. One JSON object per text frame.

/** First message on every connection: authenticates it. */
export interface ConnectMessage {
  type: 'connect';
  token: string;
}

/**
 * Subscribe to a topic, optionally resuming after `since`. `token` is an optional subscription
 * token: when the connection's own token does not cover the topic (a job's read token, say),
 * a token that grants `subscribe` on it may be given for this subscription alone.
 */
export interface SubscribeMessage {
  type: 'subscribe';
  id: number;
  topic: string;
  since?: Position;
  token?: string;
}

export interface UnsubscribeMessage {
  type: 'unsubscribe';
  id: number;
  topic: string;
}

/** Publish. Stored unless `ephemeral`; `idempotencyKey` makes a resend return the first offset. */
export interface PublishMessage {
  type: 'publish';
  id: number;
  topic: string;
  data: Json;
  ephemeral?: boolean;
  idempotencyKey?: string;
}

/** Replace the connection's token in band, without reconnecting. Same subject required. */
export interface RefreshMessage {
  type: 'refresh';
  id: number;
  token: string;
}

export type ClientMessage = ConnectMessage | SubscribeMessage | UnsubscribeMessage | PublishMessage | RefreshMessage;

export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------------------------
// Server -> client. A text frame carries one or more messages separated by `\n` (the node
// coalesces what is ready for a connection into one frame); JSON never contains a raw newline.

export interface ConnectedMessage {
  type: 'connected';
  session: string;
  node: string;
  version: number;
  /** When the token expires (ms since the epoch); refresh before then. */
  expiresAt: number;
}

/**
 * Reply to `subscribe`. `recovered` is true when every publication after `since` follows
 * (`replayed` of them, then live ones). When false, history could not fill the gap (trimmed,
 * expired or another epoch): the client must treat its state as stale; `epoch`/`offset` are the
 * topic's current position and live publications follow from there.
 */
export interface SubscribedMessage {
  type: 'subscribed';
  id: number;
  topic: string;
  epoch: string;
  offset: number;
  recovered: boolean;
  replayed: number;
}

export interface UnsubscribedMessage {
  type: 'unsubscribed';
  id?: number;
  topic: string;
  /** Set when the server ended the subscription itself (e.g. a refreshed token lost the scope). */
  code?: ErrorCode;
}

/** A publication delivered to a subscriber. Ephemeral ones have no epoch or offset. */
export interface PublicationMessage {
  type: 'pub';
  topic: string;
  epoch?: string;
  offset?: number;
  data: Json;
  /** The publisher's identity: a token subject or `key:<api key name>`. */
  from: string;
  /** Server time of acceptance, ms since the epoch. */
  ts: number;
  ephemeral?: true;
}

/** Reply to `publish`: the stored position, or no position for ephemeral publications. */
export interface AckMessage {
  type: 'ack';
  id: number;
  epoch?: string;
  offset?: number;
  /** True when the idempotency key matched an earlier publish and nothing new was stored. */
  duplicate?: boolean;
}

export interface RefreshedMessage {
  type: 'refreshed';
  id: number;
  expiresAt: number;
}

/** A request failed (`id` set) or the connection did something wrong (`id` absent). */
export interface ErrorMessage {
  type: 'error';
  id?: number;
  code: ErrorCode;
  message: string;
}

export type ServerMessage =
  | ConnectedMessage
  | SubscribedMessage
  | UnsubscribedMessage
  | PublicationMessage
  | AckMessage
  | RefreshedMessage
  | ErrorMessage;

/** Format a position as an SSE event id: `epoch:offset`. */
export function formatEventId(position: Position): string {
  return `${position.epoch}:${position.offset}`;
}

/** Parse an SSE event id (`epoch:offset`); null when malformed. Epochs never contain `:`. */
export function parseEventId(id: string | null | undefined): Position | null {
  if (typeof id !== 'string' || id.length > 100) return null;
  const colon = id.lastIndexOf(':');
  if (colon <= 0) return null;
  const epoch = id.slice(0, colon);
  const text = id.slice(colon + 1);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(epoch) || !/^\d{1,15}$/.test(text)) return null;
  return { epoch, offset: Number(text) };
}
