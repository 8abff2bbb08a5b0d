import type { Statement } from 'better-sqlite3';
import type { StreamEndReason } from '@inloop/protocol';
import { Refusal } from '../errors.js';
import type { AppendLimits, StreamRead, StreamState, StreamStore, StreamStoreOptions } from '../ports/stream-store.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

export interface SqliteStreamStoreOptions extends StreamStoreOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
  now?: () => number;
}

/** An open stream this node writes: its unwritten tail is here until the next chunk is written. */
interface Live {
  owner: string;
  /** The member who writes a message's stream (the first append's writer), else null. */
  writer: string | null;
  /** Characters written as chunks. */
  stored: number;
  /** Stored plus the tail. */
  length: number;
  /** Start and length of the last chunk row: the next write extends it while it is short. */
  lastStart: number;
  lastChars: number;
  tail: string;
  end: StreamEndReason | null;
  timer: NodeJS.Timeout | null;
}

/**
 * Streams in the embedded SQLite file (or `:memory:`). The node is the only writer, so each open
 * stream's state lives in memory: an append only adds to its tail (no write), and the tail
 * becomes one chunk row, with its range, every `flushMs` or once it has `chunkChars` characters.
 * A 2,000-append answer of 10,000 characters is a handful of rows, not 2,000. Reads see the
 * written chunks (committed or in the turn's open transaction, on this same connection) and the
 * tail, so nothing waits for a flush.
 */
class SqliteStreamStore implements StreamStore {
  readonly #handle: SqliteHandle;
  readonly #live = new Map<string, Live>();
  readonly #flushMs: number;
  readonly #chunkChars: number;
  readonly #jobTtlMs: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #q: Record<
    | 'row'
    | 'insert'
    | 'update'
    | 'chunk'
    | 'extend'
    | 'last'
    | 'chunks'
    | 'count'
    | 'open'
    | 'expired'
    | 'dropRow'
    | 'dropChunks',
    Statement
  >;

  constructor(options: SqliteStreamStoreOptions) {
    this.#flushMs = options.flushMs ?? 100;
    this.#chunkChars = options.chunkChars ?? 16_384;
    this.#jobTtlMs = options.jobTtlMs;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS streams (
        key TEXT PRIMARY KEY, owner TEXT NOT NULL, length INTEGER NOT NULL, end_reason TEXT,
        updated_at INTEGER NOT NULL, is_job INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS streams_owner ON streams (owner);
      CREATE INDEX IF NOT EXISTS streams_age ON streams (is_job, updated_at);
      CREATE TABLE IF NOT EXISTS stream_chunks (
        key TEXT NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (key, start)
      ) WITHOUT ROWID;
    `);
    // Files made before streams had writers get the column (null: no writer recorded).
    const columns = db.prepare('PRAGMA table_info(streams)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'writer')) db.exec('ALTER TABLE streams ADD COLUMN writer TEXT');
    this.#q = {
      row: db.prepare('SELECT owner, writer, length, end_reason FROM streams WHERE key = ?'),
      insert: db.prepare(
        'INSERT INTO streams (key, owner, writer, length, end_reason, updated_at, is_job) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      update: db.prepare('UPDATE streams SET length = ?, end_reason = ?, updated_at = ? WHERE key = ?'),
      chunk: db.prepare('INSERT INTO stream_chunks (key, start, stop, text) VALUES (?, ?, ?, ?)'),
      extend: db.prepare('UPDATE stream_chunks SET text = text || ?, stop = ? WHERE key = ? AND start = ?'),
      last: db.prepare('SELECT start, stop FROM stream_chunks WHERE key = ? ORDER BY start DESC LIMIT 1'),
      // Chunks overlapping [from, to): from the one holding `from` on, in order.
      chunks: db.prepare(
        `SELECT start, text FROM stream_chunks WHERE key = ? AND start < ? AND start >=
         coalesce((SELECT max(start) FROM stream_chunks WHERE key = ? AND start <= ?), 0) ORDER BY start`,
      ),
      count: db.prepare('SELECT count(*) AS n FROM streams WHERE owner = ?'),
      open: db.prepare('SELECT key FROM streams WHERE owner = ? AND end_reason IS NULL'),
      expired: db.prepare(
        `SELECT key FROM streams WHERE is_job = 1 AND updated_at < ?
         UNION ALL SELECT key FROM streams WHERE is_job = 0 AND updated_at < ? LIMIT ?`,
      ),
      dropRow: db.prepare('DELETE FROM streams WHERE key = ?'),
      dropChunks: db.prepare('DELETE FROM stream_chunks WHERE key = ?'),
    };
  }

  #load(key: string): Live | null {
    const live = this.#live.get(key);
    if (live) return live;
    const row = this.#q.row.get(key) as
      { owner: string; writer: string | null; length: number; end_reason: string | null } | undefined;
    if (!row) return null;
    const last = this.#q.last.get(key) as { start: number; stop: number } | undefined;
    const loaded: Live = {
      owner: row.owner,
      writer: row.writer,
      stored: row.length,
      length: row.length,
      lastStart: last?.start ?? 0,
      lastChars: last ? last.stop - last.start : 0,
      tail: '',
      end: row.end_reason as StreamEndReason | null,
      timer: null,
    };
    // Only open streams are kept: an ended one never changes again.
    if (loaded.end === null) this.#live.set(key, loaded);
    return loaded;
  }

  #create(owner: string, key: string, end: StreamEndReason | null, writer: string | null = null): Live {
    const live: Live = { owner, writer, stored: 0, length: 0, lastStart: 0, lastChars: 0, tail: '', end, timer: null };
    const isJob = owner.startsWith('job:') ? 1 : 0;
    this.#track(this.#handle.group.write(() => this.#q.insert.run(key, owner, writer, 0, end, this.#now(), isJob)));
    if (end === null) this.#live.set(key, live);
    return live;
  }

  append(owner: string, key: string, text: string, limits: AppendLimits): Promise<{ from: number; to: number }> {
    let s = this.#load(key);
    if (!s) {
      const { n } = this.#q.count.get(owner) as { n: number };
      if (n >= limits.maxStreamsPerOwner)
        return Promise.reject(new Refusal('too_many_streams', `${n} streams already`));
      if (text.length > limits.maxChars) return Promise.reject(tooLong(limits.maxChars));
      s = this.#create(owner, key, null, limits.writer ?? null);
    }
    if (limits.writer !== undefined && s.writer !== limits.writer)
      return Promise.reject(new Refusal('forbidden', 'another member writes this stream'));
    if (s.end !== null) return Promise.reject(new Refusal('stream_ended', `the stream ended ${s.end}`));
    if (s.length + text.length > limits.maxChars) return Promise.reject(tooLong(limits.maxChars));
    const from = s.length;
    s.tail += text;
    s.length += text.length;
    if (s.tail.length >= this.#chunkChars) this.#write(key, s);
    else if (!s.timer) s.timer = setTimeout(() => void this.#write(key, s), this.#flushMs).unref();
    return Promise.resolve({ from, to: s.length });
  }

  /**
   * Write the tail, with the stream's length and end, in the turn's transaction: onto the last
   * chunk while that is shorter than `chunkChars`, else as a new chunk. A stream's rows grow with
   * its text (one per `chunkChars`), not with its appends or its flushes.
   */
  #write(key: string, s: Live): Promise<unknown> {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    const start = s.stored;
    const chunk = s.tail;
    s.tail = '';
    s.stored = s.length;
    const { length, end } = s;
    if (end !== null) this.#live.delete(key);
    const extend = s.lastChars > 0 && s.lastChars < this.#chunkChars;
    const lastStart = s.lastStart;
    if (chunk.length > 0) {
      if (extend) s.lastChars += chunk.length;
      else {
        s.lastStart = start;
        s.lastChars = chunk.length;
      }
    }
    return this.#track(
      this.#handle.group.write(() => {
        if (chunk.length > 0 && extend) this.#q.extend.run(chunk, start + chunk.length, key, lastStart);
        else if (chunk.length > 0) this.#q.chunk.run(key, start, start + chunk.length, chunk);
        this.#q.update.run(length, end, this.#now(), key);
      }),
    );
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    const forget = () => void this.#pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  async end(owner: string, key: string, reason: StreamEndReason): Promise<StreamState & { changed: boolean }> {
    const s = this.#load(key);
    if (!s) {
      this.#create(owner, key, reason);
      return { length: 0, end: reason, changed: true };
    }
    if (s.end !== null) return { length: s.length, end: s.end, changed: false };
    s.end = reason;
    await this.#write(key, s);
    return { length: s.length, end: reason, changed: true };
  }

  read(key: string, from: number, maxChars: number): Promise<StreamRead | null> {
    const s = this.#load(key);
    if (!s) return Promise.resolve(null);
    const start = Math.min(Math.max(0, from), s.length);
    const to = Math.min(s.length, start + Math.max(0, maxChars));
    let text = '';
    if (start < s.stored && to > start) {
      const rows = this.#q.chunks.all(key, Math.min(to, s.stored), key, start) as { start: number; text: string }[];
      const first = rows[0]?.start ?? start;
      text = rows
        .map((r) => r.text)
        .join('')
        .slice(start - first, Math.min(to, s.stored) - first);
    }
    if (to > s.stored) text += s.tail.slice(Math.max(0, start - s.stored), to - s.stored);
    return Promise.resolve({ from: start, to, text, length: s.length, end: s.end, writer: s.writer });
  }

  openStreams(owner: string): Promise<string[]> {
    const keys = new Set((this.#q.open.all(owner) as { key: string }[]).map((r) => r.key));
    return Promise.resolve([...keys].filter((k) => this.#load(k)?.end === null));
  }

  async flush(): Promise<void> {
    for (const [key, s] of this.#live) if (s.tail.length > 0) void this.#write(key, s);
    await Promise.allSettled([...this.#pending]);
  }

  sweep(limit: number): Promise<boolean> {
    const now = this.#now();
    const keys = (this.#q.expired.all(now - this.#jobTtlMs, now - this.#ttlMs, limit) as { key: string }[]).map(
      (r) => r.key,
    );
    for (const key of keys) {
      const live = this.#live.get(key);
      if (live?.timer) clearTimeout(live.timer);
      this.#live.delete(key);
    }
    return this.#handle.group.write(() => {
      for (const key of keys) {
        this.#q.dropChunks.run(key);
        this.#q.dropRow.run(key);
      }
      return keys.length >= limit;
    });
  }

  async close(): Promise<void> {
    await this.flush();
    this.#handle.release();
  }
}

function tooLong(max: number): Refusal {
  return new Refusal('stream_too_long', `a stream holds at most ${max} characters`);
}

/** The embedded stream store: one SQLite file shared with the other adapters (or `:memory:`). */
export function createSqliteStreamStore(options: SqliteStreamStoreOptions): StreamStore {
  return new SqliteStreamStore(options);
}
