/** One delivery owed to one endpoint: the signed body and where its retries stand. */
export interface OutboxEntry {
  /** The endpoint's configured id. */
  endpoint: string;
  /** The event's id (`webhook-id`), the same on every attempt, so a receiver can dedupe by it. */
  id: string;
  /** The event type (`job.succeeded`), for metrics and logs. */
  type: string;
  /** The JSON body, exactly as signed and sent. */
  body: string;
  /** Failed attempts so far. */
  attempts: number;
  /** When the next attempt is due (ms since the epoch). */
  dueAt: number;
  /** When the event happened (ms), for the delivery latency. */
  createdAt: number;
}

/**
 * The webhook outbox: what is owed to each endpoint until it answers 2xx. Implementations must
 * guarantee:
 * - **Durability**: an entry is on disk (or in the shared store) before `add` resolves, and stays
 *   until `delivered` or `drop`, across restarts of the node (at least once).
 * - **Dedupe on write**: adding an `(endpoint, id)` already held keeps the first entry.
 * - **Per-endpoint reads**: `due` reads one endpoint's entries only, oldest due first, so one
 *   endpoint's backlog never delays another's.
 */
export interface WebhookOutbox {
  /**
   * True for an outbox shared by several nodes: `due` then claims what it returns for a while (no
   * other node gets it until it is rescheduled, delivered or the claim lapses), and idle delivery
   * loops look for work every second, since another node may add it or leave it behind.
   */
  readonly claims?: boolean;
  add(entries: readonly OutboxEntry[]): Promise<void>;
  /** Up to `limit` entries of `endpoint` due at `now`, earliest due first. */
  due(endpoint: string, now: number, limit: number): Promise<OutboxEntry[]>;
  /** When the next entry of `endpoint` is due, or null when it has none. */
  nextDue(endpoint: string): Promise<number | null>;
  /** Entries owed to `endpoint` (for the `inloop_webhook_pending` gauge). */
  pending(endpoint: string): number;
  /** Delivered: forget it. */
  delivered(endpoint: string, id: string): Promise<void>;
  /** Failed again: record the attempt and when to try next. */
  reschedule(endpoint: string, id: string, attempts: number, dueAt: number): Promise<void>;
  /** Given up on (retries exhausted): forget it. */
  drop(endpoint: string, id: string): Promise<void>;
  close(): Promise<void>;
}
