import type { Statement } from 'better-sqlite3';
import type { Json, LastSeen } from '@inloop/protocol';
import { PRESENCE_STORE_DEFAULTS, type PresenceStore, type PresenceStoreOptions } from '../ports/presence-store.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

export interface SqlitePresenceStoreOptions extends PresenceStoreOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
}

class SqlitePresenceStore implements PresenceStore {
  readonly #handle: SqliteHandle;
  readonly #put: Statement;
  readonly #trim: Statement;
  readonly #recent: Statement;
  readonly #expire: Statement;
  readonly #maxAgeMs: number;
  readonly #maxCount: number;
  readonly #now: () => number;

  constructor(options: SqlitePresenceStoreOptions) {
    this.#maxAgeMs = options.maxAgeMs ?? PRESENCE_STORE_DEFAULTS.maxAgeMs;
    this.#maxCount = options.maxCount ?? PRESENCE_STORE_DEFAULTS.maxCount;
    this.#now = options.now ?? Date.now;
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS presence_seen (
        topic TEXT NOT NULL, member TEXT NOT NULL, meta TEXT NOT NULL, last_seen INTEGER NOT NULL,
        PRIMARY KEY (topic, member)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS presence_seen_recent ON presence_seen (topic, last_seen);
      CREATE INDEX IF NOT EXISTS presence_seen_age ON presence_seen (last_seen);
    `);
    this.#put = db.prepare(
      `INSERT INTO presence_seen (topic, member, meta, last_seen) VALUES (?, ?, ?, ?)
       ON CONFLICT (topic, member) DO UPDATE SET meta = excluded.meta, last_seen = excluded.last_seen
       WHERE excluded.last_seen >= presence_seen.last_seen`,
    );
    // The count bound is kept on write: one index range per departure, never a scan.
    this.#trim = db.prepare(
      `DELETE FROM presence_seen WHERE topic = ? AND member IN
       (SELECT member FROM presence_seen WHERE topic = ? ORDER BY last_seen DESC LIMIT -1 OFFSET ?)`,
    );
    this.#recent = db.prepare(
      'SELECT member, meta, last_seen FROM presence_seen WHERE topic = ? AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?',
    );
    this.#expire = db.prepare(
      `DELETE FROM presence_seen WHERE (topic, member) IN
       (SELECT topic, member FROM presence_seen WHERE last_seen < ? LIMIT ?)`,
    );
  }

  left(topic: string, member: string, meta: Json, at: number): void {
    const text = JSON.stringify(meta);
    void this.#handle.group
      .write(() => {
        this.#put.run(topic, member, text, at);
        this.#trim.run(topic, topic, this.#maxCount);
      })
      .catch(() => {});
  }

  sweep(limit: number): Promise<boolean> {
    const cutoff = this.#now() - this.#maxAgeMs;
    return this.#handle.group.write(() => this.#expire.run(cutoff, limit).changes >= limit);
  }

  lastSeen(topic: string, limit: number): Promise<LastSeen[]> {
    const cutoff = this.#now() - this.#maxAgeMs;
    const rows = this.#recent.all(topic, cutoff, limit) as { member: string; meta: string; last_seen: number }[];
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
