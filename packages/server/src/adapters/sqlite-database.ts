import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import { createPrivateFile, DATA_DIR_MODE } from './data-dir.js';

const require = createRequire(import.meta.url);

/**
 * Group commit: every write made during one turn of the event loop joins one transaction, which
 * commits at `setImmediate`; only then are the writers' promises resolved and their `after`
 * hooks run (in write order). A thousand publishes in a tick cost one commit, and nothing is
 * acknowledged, or shown to a subscriber, before it is on disk.
 *
 * `fn` holds only writes, already validated: anything that may refuse a request (an idempotency
 * conflict, say) is checked before it, in the same synchronous step. A `fn` that throws anyway is
 * a storage failure: the whole group is rolled back and every writer in it is rejected, so a
 * partial write is never committed and nobody is told of a write that did not land.
 */
export class GroupCommit {
  #open = false;
  #failed: unknown = null;
  #pending: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  readonly #commit = (): void => this.#flush();

  constructor(private readonly db: Db) {}

  write<T>(fn: () => T, after?: (result: T) => void): Promise<T> {
    if (!this.db.open) return Promise.reject(new Error('the database is closed'));
    if (!this.#open) {
      this.db.exec('BEGIN');
      this.#open = true;
      setImmediate(this.#commit);
    }
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.#failed ??= err;
      return Promise.reject(err as Error);
    }
    return new Promise<T>((resolve, reject) =>
      this.#pending.push({
        resolve: () => {
          after?.(result);
          resolve(result);
        },
        reject,
      }),
    );
  }

  #flush(): void {
    if (!this.#open) return;
    const pending = this.#pending;
    const failed = this.#failed;
    this.#pending = [];
    this.#failed = null;
    this.#open = false;
    try {
      if (failed !== null) throw failed;
      this.db.exec('COMMIT');
    } catch (err) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // Already rolled back by SQLite.
      }
      for (const p of pending) p.reject(err);
      return;
    }
    for (const p of pending) p.resolve();
  }

  /** Commit what is pending now (before closing). */
  flush(): void {
    this.#flush();
  }
}

/** One open SQLite file, shared by the adapters that use it. */
export interface SqliteHandle {
  readonly db: Db;
  readonly group: GroupCommit;
  /** Release this user's share; the file closes when the last user releases it. */
  release(): void;
}

const open = new Map<string, { handle: SqliteHandle; users: number }>();

/**
 * Open (or share) a SQLite file in WAL mode, creating its directory (0700) and the file (0600) if
 * missing. Adapters on the same file share one connection and one group commit, so their writes
 * land in the same transactions and never wait on each other's locks. better-sqlite3 is loaded
 * here, lazily, so a node on another backend never loads it.
 */
export function openDatabase(file: string, synchronous: 'NORMAL' | 'FULL'): SqliteHandle {
  const key = file === ':memory:' ? null : resolve(file);
  const shared = key === null ? undefined : open.get(key);
  if (shared) {
    shared.users++;
    return shared.handle;
  }
  if (key !== null) {
    mkdirSync(dirname(key), { recursive: true, mode: DATA_DIR_MODE });
    // SQLite would create the file 0644; created 0600 first, its -wal and -shm files follow its mode.
    createPrivateFile(key);
  }
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing when the process dies (the WAL is in the OS cache);
  // only an OS crash or power loss can drop the last transactions. FULL closes that gap too.
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 5000');

  const group = new GroupCommit(db);
  const entry = {
    users: 1,
    handle: {
      db,
      group,
      release() {
        if (--entry.users > 0) return;
        if (key !== null) open.delete(key);
        group.flush();
        if (db.open) db.close();
      },
    },
  };
  if (key !== null) open.set(key, entry);
  return entry.handle;
}
