import type { Json, ReceiptWatermarks } from '@inloop/protocol';

/** A conversation as stored: its members live alongside, its messages on its topic. */
export interface ConversationRecord {
  id: string;
  title: string | null;
  meta: Json;
  createdAt: number;
}

export interface MemberRecord {
  member: string;
  joinedAt: number;
}

/** When each member's watermarks first reached an offset (per-message receipt times). */
export interface ReceiptTimes {
  member: string;
  deliveredAt: number | null;
  readAt: number | null;
}

/**
 * The conversation port: conversations, their members and their receipt watermarks. Messages
 * are publications on the conversation's topic (the {@link Broker} port), not stored here.
 * Implementations must guarantee:
 * - **Monotonic watermarks**: `advance` never lowers `delivered` or `read`; a lower or equal value
 *   is a no-op that returns the current watermarks. Concurrent advances of one member resolve to
 *   the maximum. `read` implies `delivered`: advancing `read` raises `delivered` to at least it.
 * - **Receipt times**: each advance is remembered with its time, so `receiptTimes(conv, n)` can
 *   tell when every member first had offset `n` delivered and read.
 * - **Durability**: an acknowledged create, membership change or advance survives a restart.
 * - **Receipts go with their messages**: a member's receipt times are kept for the offsets the
 *   conversation's history may still hold, and dropped past its bounds: a move `maxCount` or more
 *   offsets behind the member's newer one is removed when that one is made, and a move older than
 *   `maxAgeMs` is removed by {@link ConversationStore.sweep} (or by key expiry, in Redis once the
 *   member has made no move for `maxAgeMs`). Watermarks themselves are kept with the member.
 */
export interface ConversationStore {
  /** Create; false when the id is taken. */
  create(record: ConversationRecord, members: string[]): Promise<boolean>;
  get(id: string): Promise<ConversationRecord | null>;
  members(id: string): Promise<MemberRecord[]>;
  isMember(id: string, member: string): Promise<boolean>;
  /** Add a member (no-op when present). */
  addMember(id: string, member: string, at: number): Promise<void>;
  /** Remove a member and its watermarks; false when it was not a member. */
  removeMember(id: string, member: string): Promise<boolean>;
  /** Every member's watermarks (0 / null before its first receipt). */
  watermarks(id: string): Promise<ReceiptWatermarks[]>;
  /** Raise `member`'s watermarks to at least these offsets; returns them and whether they moved. */
  advance(
    id: string,
    member: string,
    to: { delivered?: number; read?: number },
    at: number,
  ): Promise<{ watermarks: ReceiptWatermarks; moved: { delivered: boolean; read: boolean } }>;
  /** For offset `offset`: when each member's watermarks first reached it (null: not yet). */
  receiptTimes(id: string, offset: number): Promise<ReceiptTimes[]>;
  /** One short step of cleanup, looking at about `limit` entries; true when more may be due. */
  sweep(limit: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The bounds of conversation history, which receipts follow. */
export interface ConversationStoreOptions {
  /** Most messages a conversation keeps. @default 10_000 */
  maxCount?: number;
  /** Oldest message a conversation keeps, in ms. @default 2_592_000_000 (30 days) */
  maxAgeMs?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
}

/** The defaults of {@link ConversationStoreOptions}. */
export const CONVERSATION_STORE_DEFAULTS = { maxCount: 10_000, maxAgeMs: 2_592_000_000 } as const;
