import type { ConversationMessage, ConversationState, ReceiptWatermarks, SignalKind } from './conversations.js';
import type { ErrorCode } from './errors.js';
import type { Occupancy, PresenceLeft, PresenceMember } from './presence.js';
import type { StreamClientMessage } from './streams.js';

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

/**
 * Join a topic's presence as the token's subject, with this connection (one member may have
 * several). Implies watching: the reply is a `presence.state`, then `presence.diff`s follow.
 * Needs the `presence` operation on the topic.
 */
export interface PresenceJoinMessage {
  type: 'presence.join';
  id: number;
  topic: string;
  meta?: Json;
  device?: string;
}

/** Replace the member's metadata (all its connections share it). */
export interface PresenceUpdateMessage {
  type: 'presence.update';
  id: number;
  topic: string;
  meta: Json;
}

/** Remove this connection from the topic's presence (and stop watching it). */
export interface PresenceLeaveMessage {
  type: 'presence.leave';
  id: number;
  topic: string;
}

/** Watch a topic's presence without joining: a `presence.state`, then `presence.diff`s. */
export interface PresenceWatchMessage {
  type: 'presence.watch';
  id: number;
  topic: string;
}

export interface PresenceUnwatchMessage {
  type: 'presence.unwatch';
  id: number;
  topic: string;
}

/**
 * The member started (or is still) typing on a topic. Needs `publish` on it. Clients send at
 * most one every ~2 s while keys are pressed; the node expires the indicator by itself.
 */
export interface TypingStartMessage {
  type: 'typing.start';
  id: number;
  topic: string;
}

export interface TypingStopMessage {
  type: 'typing.stop';
  id: number;
  topic: string;
}

/** Send a message to a conversation as the token's subject. `clientId` makes a resend harmless. */
export interface ConversationSendMessage {
  type: 'conversation.send';
  id: number;
  conversation: string;
  text?: string;
  data?: Json;
  clientId?: string;
}

/** Stream a reply: the next chunk of the text of the message that will be sent with `clientId`. */
export interface ConversationDraftMessage {
  type: 'conversation.draft';
  id: number;
  conversation: string;
  clientId: string;
  /** Text to append. */
  text: string;
}

/** Move this member's receipt watermarks up (never down: a lower value changes nothing). */
export interface ConversationReceiptMessage {
  type: 'conversation.receipt';
  id: number;
  conversation: string;
  delivered?: number;
  read?: number;
}

/** Ask for a conversation's state: members, receipts, unread counts, latest position. */
export interface ConversationGetMessage {
  type: 'conversation.get';
  id: number;
  conversation: string;
}

export type ClientMessage =
  | ConnectMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | PublishMessage
  | RefreshMessage
  | PresenceJoinMessage
  | PresenceUpdateMessage
  | PresenceLeaveMessage
  | PresenceWatchMessage
  | PresenceUnwatchMessage
  | TypingStartMessage
  | TypingStopMessage
  | ConversationSendMessage
  | ConversationDraftMessage
  | ConversationReceiptMessage
  | ConversationGetMessage
  | StreamClientMessage;

export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------------------------
// Server -> client. A text frame carries one or more messages separated by `\n` (the node
// coalesces what is ready for a connection into one frame); JSON never contains a raw newline.

export interface ConnectedMessage {
  type: 'connected';
  session: string;
  node: string;
  version: number;
  /** Who the connection speaks for: the token's subject (its member id in presence and conversations). */
  subject: string;
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

/**
 * A publication delivered to a subscriber. Ephemeral ones have no epoch or offset. A `kind` marks
 * a signal (typing, receipt, draft) rather than app data; clients that do not know it ignore it.
 */
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
  kind?: SignalKind;
}

/**
 * Reply to `publish`: the stored position, or no position for ephemeral publications. Also the
 * plain acknowledgement of requests that return nothing (`presence.update`, `typing.start` ...).
 */
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

/** The full presence of a topic: the reply to `presence.join` / `presence.watch`. */
export interface PresenceStateMessage {
  type: 'presence.state';
  id?: number;
  topic: string;
  members: PresenceMember[];
  occupancy: Occupancy;
}

/**
 * The node ended this connection's presence on a topic (its join and its watch) by itself: the
 * connection lost the right to it (a narrower token after `refresh`, or removal from a
 * conversation: `forbidden`). No diffs follow; join or watch again once allowed.
 */
export interface PresenceEndedMessage {
  type: 'presence.ended';
  topic: string;
  code: ErrorCode;
}

/**
 * What changed in a topic's presence. Changes are coalesced: a node sends at most one diff per
 * topic per flush interval, so a thousand joins cost each watcher a few messages, not a thousand.
 * `updates` carry the whole member (metadata or connection count changed).
 */
export interface PresenceDiffMessage {
  type: 'presence.diff';
  topic: string;
  joins: PresenceMember[];
  updates: PresenceMember[];
  leaves: PresenceLeft[];
  occupancy: Occupancy;
}

/** Reply to `conversation.send`: the stored message ("sent"). */
export interface ConversationSentMessage {
  type: 'conversation.sent';
  id: number;
  message: ConversationMessage;
  /** True when `clientId` matched an earlier send: nothing new was stored. */
  duplicate: boolean;
}

/** Reply to `conversation.receipt`: the member's watermarks now. */
export interface ConversationReceiptReply {
  type: 'conversation.receipt';
  id: number;
  conversation: string;
  receipt: ReceiptWatermarks;
}

/** Reply to `conversation.get`. */
export interface ConversationStateMessage {
  type: 'conversation.state';
  id: number;
  conversation: ConversationState;
}

export type ServerMessage =
  | PresenceStateMessage
  | PresenceDiffMessage
  | PresenceEndedMessage
  | ConversationSentMessage
  | ConversationReceiptReply
  | ConversationStateMessage
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
