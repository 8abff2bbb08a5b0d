import type { Json, LastSeen } from '@inloop/protocol';

/**
 * Where presence keeps what outlives a connection: when each member was last seen on a topic.
 * Live membership itself is held by the node that owns the connections ({@link Presence}).
 * Implementations must guarantee:
 * - **Last write wins** per (topic, member): `left` with a later time replaces an earlier one.
 * - **Durability** as the backend's other writes: a last-seen time survives a restart of the node.
 */
export interface PresenceStore {
  /** A member's last connection on `topic` went away at `at`. Fire and forget. */
  left(topic: string, member: string, meta: Json, at: number): void;
  /** The most recently seen members of `topic`, latest first. */
  lastSeen(topic: string, limit: number): Promise<LastSeen[]>;
  close(): Promise<void>;
}
