import type { Statement } from 'better-sqlite3';
import type { Json, ReceiptWatermarks } from '@inloop/protocol';
import {
  CONVERSATION_STORE_DEFAULTS,
  type ConversationRecord,
  type ConversationStore,
  type ConversationStoreOptions,
  type MemberRecord,
  type ReceiptTimes,
} from '../ports/conversation-store.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

export interface SqliteConversationStoreOptions extends ConversationStoreOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
}

interface MemberRow {
  member: string;
  joined_at: number;
  delivered: number;
  delivered_at: number | null;
  read: number;
  read_at: number | null;
}

const toWatermarks = (r: MemberRow): ReceiptWatermarks => ({
  member: r.member,
  delivered: r.delivered,
  deliveredAt: r.delivered_at,
  read: r.read,
  readAt: r.read_at,
});

class SqliteConversationStore implements ConversationStore {
  readonly #handle: SqliteHandle;
  readonly #q: Record<string, Statement>;
  readonly #maxCount: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(options: SqliteConversationStoreOptions) {
    this.#maxCount = options.maxCount ?? CONVERSATION_STORE_DEFAULTS.maxCount;
    this.#maxAgeMs = options.maxAgeMs ?? CONVERSATION_STORE_DEFAULTS.maxAgeMs;
    this.#now = options.now ?? Date.now;
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, title TEXT, meta TEXT NOT NULL, created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS conversation_members (
        conv TEXT NOT NULL, member TEXT NOT NULL, joined_at INTEGER NOT NULL,
        delivered INTEGER NOT NULL DEFAULT 0, delivered_at INTEGER,
        read INTEGER NOT NULL DEFAULT 0, read_at INTEGER,
        PRIMARY KEY (conv, member)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS receipt_moves (
        conv TEXT NOT NULL, member TEXT NOT NULL, kind TEXT NOT NULL, offset INTEGER NOT NULL,
        at INTEGER NOT NULL, PRIMARY KEY (conv, member, kind, offset)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS receipt_moves_age ON receipt_moves (at);
    `);
    this.#q = {
      create: db.prepare('INSERT OR IGNORE INTO conversations (id, title, meta, created_at) VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT id, title, meta, created_at FROM conversations WHERE id = ?'),
      addMember: db.prepare('INSERT OR IGNORE INTO conversation_members (conv, member, joined_at) VALUES (?, ?, ?)'),
      removeMember: db.prepare('DELETE FROM conversation_members WHERE conv = ? AND member = ?'),
      removeMoves: db.prepare('DELETE FROM receipt_moves WHERE conv = ? AND member = ?'),
      members: db.prepare('SELECT * FROM conversation_members WHERE conv = ? ORDER BY joined_at, member'),
      member: db.prepare('SELECT * FROM conversation_members WHERE conv = ? AND member = ?'),
      setMarks: db.prepare(
        'UPDATE conversation_members SET delivered = ?, delivered_at = ?, read = ?, read_at = ? WHERE conv = ? AND member = ?',
      ),
      move: db.prepare('INSERT OR IGNORE INTO receipt_moves (conv, member, kind, offset, at) VALUES (?, ?, ?, ?, ?)'),
      trimMoves: db.prepare('DELETE FROM receipt_moves WHERE conv = ? AND member = ? AND kind = ? AND offset <= ?'),
      expireMoves: db.prepare(
        `DELETE FROM receipt_moves WHERE (conv, member, kind, offset) IN
         (SELECT conv, member, kind, offset FROM receipt_moves WHERE at < ? LIMIT ?)`,
      ),
      times: db.prepare(
        'SELECT member, kind, MIN(at) AS at FROM receipt_moves WHERE conv = ? AND offset >= ? GROUP BY member, kind',
      ),
    };
  }

  create(record: ConversationRecord, members: string[]): Promise<boolean> {
    return this.#handle.group.write(() => {
      const meta = JSON.stringify(record.meta);
      if (this.#q.create!.run(record.id, record.title, meta, record.createdAt).changes === 0) return false;
      for (const m of members) this.#q.addMember!.run(record.id, m, record.createdAt);
      return true;
    });
  }

  get(id: string): Promise<ConversationRecord | null> {
    const row = this.#q.get!.get(id) as
      { id: string; title: string | null; meta: string; created_at: number } | undefined;
    return Promise.resolve(
      row ? { id: row.id, title: row.title, meta: JSON.parse(row.meta) as Json, createdAt: row.created_at } : null,
    );
  }

  members(id: string): Promise<MemberRecord[]> {
    const rows = this.#q.members!.all(id) as MemberRow[];
    return Promise.resolve(rows.map((r) => ({ member: r.member, joinedAt: r.joined_at })));
  }

  isMember(id: string, member: string): Promise<boolean> {
    return Promise.resolve(this.#q.member!.get(id, member) !== undefined);
  }

  addMember(id: string, member: string, at: number): Promise<void> {
    return this.#handle.group.write(() => void this.#q.addMember!.run(id, member, at));
  }

  removeMember(id: string, member: string): Promise<boolean> {
    if (this.#q.member!.get(id, member) === undefined) return Promise.resolve(false);
    return this.#handle.group.write(() => {
      this.#q.removeMember!.run(id, member);
      this.#q.removeMoves!.run(id, member);
      return true;
    });
  }

  watermarks(id: string): Promise<ReceiptWatermarks[]> {
    return Promise.resolve((this.#q.members!.all(id) as MemberRow[]).map(toWatermarks));
  }

  advance(
    id: string,
    member: string,
    to: { delivered?: number; read?: number },
    at: number,
  ): Promise<{ watermarks: ReceiptWatermarks; moved: { delivered: boolean; read: boolean } }> {
    // Read and write in one synchronous step inside the group: no other advance comes between.
    return this.#handle.group.write(() => {
      const row = this.#q.member!.get(id, member) as MemberRow | undefined;
      if (!row) {
        const none = { member, delivered: 0, deliveredAt: null, read: 0, readAt: null };
        return { watermarks: none, moved: { delivered: false, read: false } };
      }
      const read = Math.max(row.read, to.read ?? 0);
      const delivered = Math.max(row.delivered, to.delivered ?? 0, read);
      const moved = { delivered: delivered > row.delivered, read: read > row.read };
      if (moved.delivered || moved.read) {
        const next: MemberRow = {
          ...row,
          delivered,
          delivered_at: moved.delivered ? at : row.delivered_at,
          read,
          read_at: moved.read ? at : row.read_at,
        };
        this.#q.setMarks!.run(delivered, next.delivered_at, read, next.read_at, id, member);
        if (moved.delivered) this.#move(id, member, 'delivered', delivered, at);
        if (moved.read) this.#move(id, member, 'read', read, at);
        return { watermarks: toWatermarks(next), moved };
      }
      return { watermarks: toWatermarks(row), moved };
    });
  }

  /** Remember a move, and forget those `maxCount` offsets behind it: their messages are gone. */
  #move(id: string, member: string, kind: 'delivered' | 'read', offset: number, at: number): void {
    this.#q.move!.run(id, member, kind, offset, at);
    if (offset > this.#maxCount) this.#q.trimMoves!.run(id, member, kind, offset - this.#maxCount);
  }

  sweep(limit: number): Promise<boolean> {
    const cutoff = this.#now() - this.#maxAgeMs;
    return this.#handle.group.write(() => this.#q.expireMoves!.run(cutoff, limit).changes >= limit);
  }

  receiptTimes(id: string, offset: number): Promise<ReceiptTimes[]> {
    const rows = this.#q.times!.all(id, offset) as { member: string; kind: string; at: number }[];
    const byMember = new Map<string, ReceiptTimes>();
    for (const r of rows) {
      let t = byMember.get(r.member);
      if (!t) byMember.set(r.member, (t = { member: r.member, deliveredAt: null, readAt: null }));
      if (r.kind === 'delivered') t.deliveredAt = r.at;
      else t.readAt = r.at;
    }
    return Promise.resolve([...byMember.values()]);
  }

  close(): Promise<void> {
    this.#handle.release();
    return Promise.resolve();
  }
}

/** Conversations, members and receipts in the node's SQLite file. */
export function createSqliteConversationStore(options: SqliteConversationStoreOptions): ConversationStore {
  return new SqliteConversationStore(options);
}
