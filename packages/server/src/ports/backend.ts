import type { WebhookOutbox } from './webhook-outbox.js';
import type { Broker, BrokerOptions } from './broker.js';
import type { ConversationStore, ConversationStoreOptions } from './conversation-store.js';
import type { JobLocks, JobQueue } from './job-queue.js';
import type { JobStore, JobStoreOptions } from './job-store.js';
import type { NodeBoard } from './node-board.js';
import type { PresenceReplica } from './presence-replica.js';
import type { PresenceStore, PresenceStoreOptions } from './presence-store.js';
import type { StreamStore, StreamStoreOptions } from './stream-store.js';

/**
 * Everything a node keeps outside its own memory, from one place: the embedded SQLite file by
 * default, Redis (with BullMQ for jobs) when several nodes share the work. Each method builds
 * the adapter for one port; `close` releases what they share (a database, connections).
 */
export interface Backend {
  /** True when other nodes share it: then no node may assume it is the only writer. */
  readonly shared: boolean;
  broker(options: BrokerOptions): Broker;
  jobStore(options?: JobStoreOptions): JobStore;
  /** The queue of jobs to run; it may read the store built by `jobStore`. */
  jobQueue(store: JobStore): JobQueue;
  jobLocks(): JobLocks;
  conversationStore(options?: ConversationStoreOptions): ConversationStore;
  presenceStore(options?: PresenceStoreOptions): PresenceStore;
  /**
   * Presence shared with other nodes; absent when this node is the only one. A node that stops
   * proving it is alive loses its members on the others after `ttlMs`.
   */
  presenceReplica?(nodeId: string, ttlMs: number): PresenceReplica;
  /**
   * A secret every node must share (the generated API key, the token secret): read it, or
   * create it when no node has yet. `created` is true for the node that created it.
   */
  secret(name: string, bytes: number): Promise<{ value: string; created: boolean }>;
  /** Where nodes post what the operator's console shows of them; absent when this node is the only one. */
  nodeBoard?(): NodeBoard;
  /** Where streams' text lives (see docs/streams.md); every node sharing the backend reads the same text. */
  streamStore(options: StreamStoreOptions): StreamStore;
  /** The durable webhook outbox; absent where the backend has none (the node then keeps it in memory). */
  webhookOutbox?(): WebhookOutbox;
  close(): Promise<void>;
}
