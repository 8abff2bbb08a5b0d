import type { Json } from './messages.js';

/**
 * Conversations on the wire. A conversation has members and a topic, `conv:<id>`, whose stored
 * publications are its messages (so offsets, history and resume come from topics). Receipts are
 * per-member watermarks over those offsets; typing, receipt updates and streamed drafts travel as
 * ephemeral signals on the same topic and are never stored.
 */

/** Prefix reserved for conversation topics: only the node publishes there, for members. */
export const CONVERSATION_TOPIC_PREFIX = 'conv:';
/** Whether only the node may publish to `topic` (a job's or a conversation's). */
export const isReservedTopic = (topic: string): boolean =>
  topic.startsWith('job:') || topic.startsWith(CONVERSATION_TOPIC_PREFIX) || topic.startsWith('stream:');

/** The topic of a conversation. */
export const conversationTopic = (id: string): string => `${CONVERSATION_TOPIC_PREFIX}${id}`;

const ID_RE = /^[A-Za-z0-9_\-.@=+]{1,100}$/;
/** Whether `id` is a valid conversation id (topic characters except `:`, 1-100 long). */
export const isConversationId = (id: unknown): id is string => typeof id === 'string' && ID_RE.test(id);

const MEMBER_RE = /^[A-Za-z0-9_\-.:@=+]{1,200}$/;
/** Whether `id` is a valid member id (the characters of a topic name). */
export const isMemberId = (id: unknown): id is string => typeof id === 'string' && MEMBER_RE.test(id);

/** Longest message text, in characters. */
export const MAX_MESSAGE_TEXT = 16_000;
/** Longest client-generated message id. */
export const MAX_CLIENT_ID_LENGTH = 128;

/** What a stored conversation publication holds (its `data`). */
export interface MessageBody {
  /** Server id, stable across resends with the same client id. */
  id: string;
  clientId?: string;
  text?: string;
  /** App-defined payload (attachments, cards ...). */
  data?: Json;
}

/** A message as an app sees it: the body plus where and when it was stored, and who sent it. */
export interface ConversationMessage extends MessageBody {
  conversation: string;
  epoch: string;
  offset: number;
  from: string;
  ts: number;
}

/**
 * One member's receipts: everything up to `delivered` reached one of its devices, everything up
 * to `read` was seen. Both only ever grow; `read` implies `delivered`.
 */
export interface ReceiptWatermarks {
  member: string;
  delivered: number;
  deliveredAt: number | null;
  read: number;
  readAt: number | null;
}

/** A member with its receipts and unread count. */
export interface ConversationMemberState extends ReceiptWatermarks {
  joinedAt: number;
  /** Messages after `read` (a member's own sends mark it read). */
  unread: number;
}

/** A conversation's state: members, their receipts, and the latest position of its messages. */
export interface ConversationState {
  id: string;
  topic: string;
  title: string | null;
  meta: Json;
  createdAt: number;
  epoch: string;
  /** Offset of the latest message (0 when there are none). */
  latest: number;
  members: ConversationMemberState[];
}

/** Where a message stands with one recipient. */
export type DeliveryState = 'sent' | 'delivered' | 'read';

/** A message's state per recipient (every member but the sender), with times. */
export interface MessageReceipts {
  message: ConversationMessage;
  recipients: { member: string; state: DeliveryState; deliveredAt: number | null; readAt: number | null }[];
  /** How many recipients have it delivered (read counts as delivered) and read. */
  counts: { recipients: number; delivered: number; read: number };
}

/** Signal kinds carried by ephemeral publications (the `kind` of a `pub`). */
export const SignalKinds = [
  'typing.start',
  'typing.stop',
  'receipt.delivered',
  'receipt.read',
  'message.draft',
  // A member was removed (`from` is that member): its subscriptions and presence there end.
  'member.removed',
  // A member was added (`from` is that member): receipts now count it.
  'member.added',
  // A stream's append or end, on the node-internal topic `stream:<owner topic>` (see streams.ts).
  'stream',
  // A node's console watches every job (`GET /v1/jobs/stream`): every node of the cluster sends it
  // the changes of its jobs for a while (on the node-internal topic `stream:console:jobs:wanted`).
  'console.jobs',
] as const;
export type SignalKind = (typeof SignalKinds)[number];

/** `typing.start` data: receivers drop the indicator if no refresh comes within `expiresInMs`. */
export interface TypingStartSignal {
  expiresInMs: number;
}

/** `message.draft` data: the text so far of a reply being streamed under `clientId`. */
export interface DraftSignal {
  clientId: string;
  text: string;
  /** Increases with every chunk, so a late or reordered chunk is recognised. */
  seq: number;
}

/** The state of a message for one recipient, from its watermarks. */
export function deliveryState(offset: number, w: Pick<ReceiptWatermarks, 'delivered' | 'read'>): DeliveryState {
  return w.read >= offset ? 'read' : w.delivered >= offset ? 'delivered' : 'sent';
}
