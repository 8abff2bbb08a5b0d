import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database as Db, Statement } from 'better-sqlite3';
import { Refusal } from '../errors.js';
import type { WriteFollower } from '../ports/broker.js';
import { Checkpointer } from './sqlite-checkpointer.js';
import { createPrivateFile, DATA_DIR_MODE } from './data-dir.js';

const require = createRequire(import.meta.url);

/**
 * Group commit: every write made during one turn of the event loop joins one transaction, which
 * commits at `setImmediate`; only then are the writers' promises resolved and their `after`
 * hooks run (in write order). A thousand publishes in a tick cost one commit, and nothing is
 * acknowledged, or shown to a subscriber, before it is on disk.
 *
 * Each writer is isolated from the others in its group: its `fn` runs inside a savepoint (the
 * first writer of a group inside the transaction alone), and a `fn` that throws (a constraint, a
 * value SQLite will not bind) is rolled back to that savepoint (the first one, with the
 * transaction, begun again) and rejected alone, while the rest of the group commits. One client's bad write must never fail
 * everyone else's. Only a failure of the transaction itself (the commit, or SQLite abandoning the
 * transaction, as on a full disk) rejects every writer in the group, so a partial write is never
 * committed and nobody is told of a write that did not land. `fn` should still validate and
 * serialize before it writes: a savepoint is the last line, not the first.
 */
export class GroupCommit {
  #open = false;
  #failed: unknown = null;
  /** A writer's `fn` is running (a write made from inside it is nested in it). */
  #inWriter = false;
  #pending: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  readonly #commit = (): void => this.#flush();
  readonly #begin: Statement;
  readonly #commitStatement: Statement;
  readonly #savepoint: Statement;
  readonly #release: Statement;
  readonly #rollbackTo: Statement;
  readonly #rollback: Statement;

  /** Called after each successful COMMIT (the checkpointer's cue). */
  onCommit: (() => void) | null = null;
  /** Told each time a commit is queued: the schedulers that write what commits release. */
  readonly #followers = new Set<WriteFollower>();

  constructor(private readonly db: Db) {
    // Prepared once: `exec` would parse them again on every group.
    this.#begin = db.prepare('BEGIN');
    this.#commitStatement = db.prepare('COMMIT');
    this.#savepoint = db.prepare('SAVEPOINT writer');
    this.#release = db.prepare('RELEASE writer');
    this.#rollbackTo = db.prepare('ROLLBACK TO writer');
    this.#rollback = db.prepare('ROLLBACK');
  }

  write<T>(fn: () => T, after?: (result: T) => void): Promise<T> {
    if (!this.db.open) return Promise.reject(new Refusal('unavailable', 'the node is shutting down'));
    if (!this.#open) {
      this.#begin.run();
      this.#open = true;
      setImmediate(this.#commit);
      for (const f of this.#followers) f.follow();
    }
    // The turn's transaction is already lost: a savepoint now would open (and commit) another.
    if (this.#failed !== null) return Promise.reject(this.#failed as Error);
    let result: T;
    // The group's first writer needs no savepoint: the transaction holds nothing else, so its
    // part is undone by rolling the transaction back and beginning another. At a low rate most
    // groups have one writer, and the savepoint and its release were two of a publication's six
    // statements (BEGIN, the topic's read, the insert, COMMIT).
    // (A write made from inside another writer's `fn` is never alone: it keeps its savepoint.)
    const alone = this.#pending.length === 0 && !this.#inWriter;
    const outer = this.#inWriter;
    try {
      if (!alone) this.#savepoint.run();
      this.#inWriter = true;
      result = fn();
      this.#inWriter = outer;
      if (!alone) this.#release.run();
    } catch (err) {
      this.#inWriter = outer;
      if (alone) this.#restart(err);
      else this.#undo(err);
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

  /**
   * Have `scheduler` told whenever a commit is queued, so its tick (which writes the publications
   * and acks the commit releases) is queued behind the commit, not a turn later.
   */
  follow(scheduler: WriteFollower): void {
    this.#followers.add(scheduler);
  }

  unfollow(scheduler: WriteFollower): void {
    this.#followers.delete(scheduler);
  }

  /** Undo the first writer's part: the whole transaction, begun again for the rest of the turn. */
  #restart(err: unknown): void {
    try {
      if (this.db.inTransaction) this.#rollback.run();
      this.#begin.run();
    } catch {
      this.#failed ??= err;
    }
  }

  /** Undo one writer's part; if SQLite dropped the whole transaction, the group has failed. */
  #undo(err: unknown): void {
    try {
      if (!this.db.inTransaction) throw err;
      this.#rollbackTo.run();
      this.#release.run();
    } catch {
      this.#failed ??= err;
    }
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
      this.#commitStatement.run();
    } catch (err) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // Already rolled back by SQLite.
      }
      for (const p of pending) p.reject(err);
      return;
    }
    this.onCommit?.();
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
  /** How long the WAL checkpoints wait now (null: SQLite's own checkpoints, or in memory). */
  readonly checkpointIntervalMs: number | null;
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
  let checkpointer: Checkpointer | null = null;
  if (key !== null) {
    // Checkpoints (the WAL copied into the file, with an fsync) run on a worker thread, not inside
    // a COMMIT on this one; see sqlite-checkpointer.ts.
    db.pragma('wal_autocheckpoint = 0');
    const restore = () => void (db.open && db.pragma('wal_autocheckpoint = 1000'));
    try {
      const finish = () => void db.pragma('wal_checkpoint(PASSIVE)');
      const worker = new Checkpointer(key, require.resolve('better-sqlite3'), finish, restore);
      group.onCommit = () => worker.committed();
      checkpointer = worker;
    } catch {
      restore();
    }
  }
  const entry = {
    users: 1,
    handle: {
      db,
      group,
      get checkpointIntervalMs() {
        return checkpointer?.interval ?? null;
      },
      release() {
        if (--entry.users > 0) return;
        if (key !== null) open.delete(key);
        group.flush();
        // The WAL folded into the file and emptied here: the worker's connection is still open
        // (it closes on its own thread, later), so this close is not the last one, which is
        // where SQLite would do it.
        if (key !== null)
          try {
            db.pragma('wal_checkpoint(TRUNCATE)');
          } catch {
            // Busy (another process reading): the next open recovers the WAL, nothing is lost.
          }
        checkpointer?.close();
        if (db.open) db.close();
      },
    },
  };
  if (key !== null) open.set(key, entry);
  return entry.handle;
}
