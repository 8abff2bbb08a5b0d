import type { Json, LastSeen } from '@inloop/protocol';

/**
 * Where presence keeps what outlives a connection: when each member was last seen on a topic.
 * Live membership itself is held by the node that owns the connections ({@link Presence}).
 * Implementations must guarantee:
 * - **Last write wins** per (topic, member): `left` with a later time replaces an earlier one.
 * - **Durability** as the backend's other writes: a last-seen time survives a restart of the node.
 * - **Retention**: a topic keeps at most `maxCount` last-seen entries (the latest), each for at most
 *   `maxAgeMs` after it was written; `lastSeen` never returns one past either bound, and the
 *   backend removes them (on write, in {@link PresenceStore.sweep}, or by its own key expiry).
 */
export interface PresenceStore {
  /** A member's last connection on `topic` went away at `at`. Fire and forget. */
  left(topic: string, member: string, meta: Json, at: number): void;
  /** The most recently seen members of `topic`, latest first. */
  lastSeen(topic: string, limit: number): Promise<LastSeen[]>;
  /** One short step of cleanup, looking at about `limit` entries; true when more may be due. */
  sweep(limit: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How long, and how many, last-seen entries are kept per topic. */
export interface PresenceStoreOptions {
  /** An entry is dropped this long after the member was last seen. @default 2_592_000_000 (30 days) */
  maxAgeMs?: number;
  /** Most entries kept per topic, the latest. @default 1000 */
  maxCount?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
}

/** The defaults of {@link PresenceStoreOptions}. */
export const PRESENCE_STORE_DEFAULTS = { maxAgeMs: 2_592_000_000, maxCount: 1000 } as const;
