import type { Statement } from 'better-sqlite3';
import type { Json, LastSeen } from '@inloop/protocol';
import type { PresenceStore } from '../ports/presence-store.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

export interface SqlitePresenceStoreOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
}

class SqlitePresenceStore implements PresenceStore {
  readonly #handle: SqliteHandle;
  readonly #put: Statement;
  readonly #recent: Statement;

  constructor(options: SqlitePresenceStoreOptions) {
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS presence_seen (
        topic TEXT NOT NULL, member TEXT NOT NULL, meta TEXT NOT NULL, last_seen INTEGER NOT NULL,
        PRIMARY KEY (topic, member)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS presence_seen_recent ON presence_seen (topic, last_seen);
    `);
    this.#put = db.prepare(
      `INSERT INTO presence_seen (topic, member, meta, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (topic, member) DO UPDATE SET meta = excluded.meta, last_seen = excluded.last_seen
       WHERE excluded.last_seen >= presence_seen.last_seen`,
    );
    this.#recent = db.prepare(
      'SELECT member, meta, last_seen FROM presence_seen WHERE topic = ? ORDER BY last_seen DESC LIMIT ?',
    );
  }

  left(topic: string, member: string, meta: Json, at: number): void {
    const text = JSON.stringify(meta);
    void this.#handle.group.write(() => this.#put.run(topic, member, text, at)).catch(() => {});
  }

  lastSeen(topic: string, limit: number): Promise<LastSeen[]> {
    const rows = this.#recent.all(topic, limit) as { member: string; meta: string; last_seen: number }[];
    return Promise.resolve(
      rows.map((r) => ({ id: r.member, meta: JSON.parse(r.meta) as Json, lastSeen: r.last_seen })),
    );
  }

  close(): Promise<void> {
    this.#handle.release();
    return Promise.resolve();
  }
}

/** Last-seen times in the node's SQLite file. */
export function createSqlitePresenceStore(options: SqlitePresenceStoreOptions): PresenceStore {
  return new SqlitePresenceStore(options);
}
