import type { Json } from '@inloop/protocol';

/** One node's share of one member on a topic, as other nodes see it. */
export interface ReplicatedMember {
  meta: Json;
  /** Connections of the member on that node. */
  connections: number;
  devices: string[];
  joinedAt: number;
}

/** A change of one node's share of one member (`entry` null: none left on that node). */
export interface ReplicaChange {
  topic: string;
  node: string;
  member: string;
  entry: ReplicatedMember | null;
  /** Increases with every change a node makes: a follower ignores a change older than one it has. */
  seq: number;
}

/**
 * Presence across nodes. Each node owns its own connections and announces its share of each
 * member; other nodes that follow the topic merge the shares. A node that stops announcing
 * that it is alive (a crash) has its shares dropped after `ttlMs`. Implementations must
 * guarantee:
 * - **Per-node order**: one node's changes to one topic reach every follower in the order made.
 * - **Liveness**: `onNodeAlive` fires for each live node at least every `ttlMs / 3`, and
 *   `onNodeGone` when a node closes cleanly, so followers can expire the shares of dead ones.
 */
export interface PresenceReplica {
  readonly ttlMs: number;
  /** This node's share of `member` on `topic` changed. Fire and forget, in call order. */
  publish(topic: string, member: string, entry: ReplicatedMember | null): void;
  /** Follow `topic`: the shares of the other live nodes now; later changes come to `onChange`. */
  follow(topic: string): Promise<ReplicaChange[]>;
  unfollow(topic: string): void;
  /** The shares of the other live nodes, without following (a one-off read). */
  read(topic: string): Promise<ReplicaChange[]>;
  onChange(handler: (change: ReplicaChange) => void): void;
  /**
   * After this node lost its link to the others for a while (changes may have been missed): the
   * complete set of other nodes' shares of a followed topic, as read from now (`shares` settles
   * once read; changes may keep arriving through `onChange` meanwhile). A share held when the
   * handler was called, unchanged since and not in the set, is gone.
   */
  onResync(handler: (topic: string, shares: Promise<ReplicaChange[]>) => void): void;
  onNodeAlive(handler: (node: string) => void): void;
  onNodeGone(handler: (node: string) => void): void;
  close(): Promise<void>;
}
