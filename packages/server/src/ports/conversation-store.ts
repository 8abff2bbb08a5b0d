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
  close(): Promise<void>;
}
