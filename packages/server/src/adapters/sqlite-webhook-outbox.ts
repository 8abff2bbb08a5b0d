import type { Statement } from 'better-sqlite3';
import type { OutboxEntry, WebhookOutbox } from '../ports/webhook-outbox.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

export interface SqliteWebhookOutboxOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
}

interface Row {
  endpoint: string;
  id: string;
  type: string;
  body: string;
  attempts: number;
  due_at: number;
  created_at: number;
}

const entryOf = (r: Row): OutboxEntry => ({
  endpoint: r.endpoint,
  id: r.id,
  type: r.type,
  body: r.body,
  attempts: r.attempts,
  dueAt: r.due_at,
  createdAt: r.created_at,
});

/** The webhook outbox in the node's SQLite file, written through its group commit. */
class SqliteWebhookOutbox implements WebhookOutbox {
  readonly #handle: SqliteHandle;
  readonly #insert: Statement;
  readonly #due: Statement;
  readonly #next: Statement;
  readonly #count: Statement;
  readonly #delete: Statement;
  readonly #reschedule: Statement;

  constructor(options: SqliteWebhookOutboxOptions) {
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS webhook_outbox (
        endpoint TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
        attempts INTEGER NOT NULL, due_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (endpoint, id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox (endpoint, due_at);
    `);
    this.#insert = db.prepare(
      `INSERT INTO webhook_outbox (endpoint, id, type, body, attempts, due_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint, id) DO NOTHING`,
    );
    this.#due = db.prepare('SELECT * FROM webhook_outbox WHERE endpoint = ? AND due_at <= ? ORDER BY due_at LIMIT ?');
    this.#next = db.prepare('SELECT MIN(due_at) AS next FROM webhook_outbox WHERE endpoint = ?');
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM webhook_outbox WHERE endpoint = ?');
    this.#delete = db.prepare('DELETE FROM webhook_outbox WHERE endpoint = ? AND id = ?');
    this.#reschedule = db.prepare('UPDATE webhook_outbox SET attempts = ?, due_at = ? WHERE endpoint = ? AND id = ?');
  }

  add(entries: readonly OutboxEntry[]): Promise<void> {
    return this.#handle.group.write(() => {
      for (const e of entries) this.#insert.run(e.endpoint, e.id, e.type, e.body, e.attempts, e.dueAt, e.createdAt);
    });
  }

  due(endpoint: string, now: number, limit: number): Promise<OutboxEntry[]> {
    return Promise.resolve((this.#due.all(endpoint, now, limit) as Row[]).map(entryOf));
  }

  nextDue(endpoint: string): Promise<number | null> {
    return Promise.resolve((this.#next.get(endpoint) as { next: number | null }).next);
  }

  pending(endpoint: string): number {
    return this.#handle.db.open ? (this.#count.get(endpoint) as { n: number }).n : 0;
  }

  delivered(endpoint: string, id: string): Promise<void> {
    return this.#handle.group.write(() => void this.#delete.run(endpoint, id));
  }

  reschedule(endpoint: string, id: string, attempts: number, dueAt: number): Promise<void> {
    return this.#handle.group.write(() => void this.#reschedule.run(attempts, dueAt, endpoint, id));
  }

  drop(endpoint: string, id: string): Promise<void> {
    return this.delivered(endpoint, id);
  }

  close(): Promise<void> {
    this.#handle.release();
    return Promise.resolve();
  }
}

/** A durable webhook outbox in SQLite (`:memory:` keeps it for the life of the process). */
export function createSqliteWebhookOutbox(options: SqliteWebhookOutboxOptions): WebhookOutbox {
  return new SqliteWebhookOutbox(options);
}
