import type { Database as Db, Statement } from 'better-sqlite3';
import type { Json, Position } from '@inloop/protocol';
import {
  boundsFor,
  IdempotencyConflictError,
  type AppendInput,
  type AppendResult,
  type Broker,
  type BrokerOptions,
  type HistoryPage,
  type StoredPublication,
  type WriteFollower,
} from '../ports/broker.js';
import { payloadDigest } from './epoch.js';
import { LocalFanout } from './local-fanout.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';
import { UnbornEpochs } from './unborn-epochs.js';

export interface SqliteBrokerOptions extends BrokerOptions {
  /** Path of the SQLite file (created with its directory if missing). */
  file: string;
  /** `NORMAL` survives a process crash (WAL); `FULL` also survives power loss, slower. @default 'NORMAL' */
  synchronous?: 'NORMAL' | 'FULL';
}

/**
 * Trims by count every this many appends to a topic, not on each: one append in TRIM_STEP then
 * writes the head of the topic's history (a page of its own in the WAL), the others only its tail.
 */
const TRIM_STEP = 32;
/** Trims by age at most this often per topic (reads skip what expired meanwhile). */
const AGE_TRIM_INTERVAL_MS = 1000;

interface TopicRow {
  epoch: string;
  last_offset: number;
  last_ts: number;
}
interface PubRow {
  offset: number;
  data: string;
  publisher: string;
  ts: number;
}

/**
 * The embedded default: history in one SQLite file (WAL), fan-out within this process.
 * Appends are synchronous transactions, so the handler sees each topic in offset order and a
 * publication is on disk (in the WAL) before it is acknowledged. A topic gets its row on its
 * first append, not when it is read or subscribed to, and loses it once idle (see `sweep`).
 */
export class SqliteBroker extends LocalFanout implements Broker {
  readonly #db: Db;
  readonly #handle: SqliteHandle;
  readonly #opts: Required<Omit<SqliteBrokerOptions, 'synchronous' | 'scheduler'>>;
  readonly #scheduler: WriteFollower | undefined;
  readonly #stmts: Record<string, Statement>;
  readonly #unborn = new UnbornEpochs();
  /** When each topic written since start last had its head trimmed by age (at most once a second). */
  readonly #ageTrimmedAt = new Map<string, number>();
  /** Where the last look for idle topics stopped, so a topic kept (watched) never blocks the rest. */
  #idleCursor: { lastTs: number; name: string } | null = null;

  constructor(options: SqliteBrokerOptions) {
    super();
    const { scheduler, ...rest } = options;
    this.#opts = { now: Date.now, retention: [], ...rest };
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    this.#db = this.#handle.db;
    this.#scheduler = scheduler;
    if (scheduler) this.#handle.group.follow(scheduler);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS topics (
        name TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_offset INTEGER NOT NULL, last_ts INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS publications (
        topic TEXT NOT NULL, offset INTEGER NOT NULL, data TEXT NOT NULL, publisher TEXT NOT NULL,
        ts INTEGER NOT NULL, PRIMARY KEY (topic, offset)
      ) WITHOUT ROWID;
      DROP INDEX IF EXISTS publications_ts;
      CREATE TABLE IF NOT EXISTS idempotency (
        topic TEXT NOT NULL, key TEXT NOT NULL, offset INTEGER NOT NULL, digest TEXT NOT NULL,
        expires_at INTEGER NOT NULL, PRIMARY KEY (topic, key)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
      CREATE INDEX IF NOT EXISTS topics_idle ON topics (last_ts, name);
    `);
    const db = this.#db;
    this.#stmts = {
      // A topic's row is brought up to date only before its history is trimmed (see #write): its
      // newest publication, the last key of its range, says where it really is.
      // The newest publication is found by the key's maximum (one seek), joined on its key: a
      // subquery in FROM would be materialized, an ephemeral table per read.
      topic: db.prepare(
        `SELECT t.epoch AS epoch, max(t.last_offset, coalesce(p.offset, 0)) AS last_offset,
           max(t.last_ts, coalesce(p.ts, 0)) AS last_ts
         FROM topics t LEFT JOIN publications p
           ON p.topic = t.name AND p.offset = (SELECT max(offset) FROM publications WHERE topic = t.name)
         WHERE t.name = ?`,
      ),
      createTopic: db.prepare('INSERT INTO topics (name, epoch, last_offset, last_ts) VALUES (?, ?, 0, 0)'),
      advance: db.prepare('UPDATE topics SET last_offset = ?, last_ts = ? WHERE name = ?'),
      insert: db.prepare('INSERT INTO publications (topic, offset, data, publisher, ts) VALUES (?, ?, ?, ?, ?)'),
      // Count trims are made every TRIM_STEP appends (reads skip the few kept beyond the bound).
      trimCount: db.prepare('DELETE FROM publications WHERE topic = ? AND offset <= ?'),
      // Age trims are made on append, from the head: a topic's times rise with its offsets, so
      // what expired is a prefix. An idle topic is removed whole by the sweep.
      head: db.prepare('SELECT ts FROM publications WHERE topic = ? ORDER BY offset LIMIT 1'),
      oldest: db.prepare('SELECT offset, ts FROM publications WHERE topic = ? ORDER BY offset LIMIT 64'),
      trimBefore: db.prepare('DELETE FROM publications WHERE topic = ? AND offset < ?'),
      idle: db.prepare(
        'SELECT name, last_ts FROM topics WHERE last_ts < ? AND (last_ts, name) > (?, ?) ORDER BY last_ts, name LIMIT ?',
      ),
      dropTopic: db.prepare('DELETE FROM topics WHERE name = ?'),
      dropPublications: db.prepare('DELETE FROM publications WHERE topic = ?'),
      dropKeys: db.prepare('DELETE FROM idempotency WHERE topic = ?'),
      liveKey: db.prepare('SELECT 1 FROM idempotency WHERE topic = ? AND expires_at > ? LIMIT 1'),
      read: db.prepare(
        'SELECT offset, data, publisher, ts FROM publications WHERE topic = ? AND offset > ? AND ts >= ? ORDER BY offset LIMIT ?',
      ),
      earliest: db.prepare('SELECT MIN(offset) AS o FROM publications WHERE topic = ? AND offset > ? AND ts >= ?'),
      one: db.prepare('SELECT offset, data, publisher, ts FROM publications WHERE topic = ? AND offset = ?'),
      idemGet: db.prepare('SELECT offset, digest FROM idempotency WHERE topic = ? AND key = ? AND expires_at > ?'),
      idemPut: db.prepare(
        'INSERT OR REPLACE INTO idempotency (topic, key, offset, digest, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      idemSweep: db.prepare(
        'DELETE FROM idempotency WHERE (topic, key) IN (SELECT topic, key FROM idempotency WHERE expires_at <= ? LIMIT ?)',
      ),
    };
  }

  /** The topic's row, with where its newest publication says it is. */
  #row(topic: string): TopicRow | undefined {
    return this.#stmts.topic!.get(topic) as TopicRow | undefined;
  }

  /** The topic's row, or what a topic without one reports (its unborn epoch, nothing held). */
  #topic(topic: string): TopicRow {
    const row = this.#row(topic);
    return row ?? { epoch: this.#unborn.epochOf(topic), last_offset: 0, last_ts: 0 };
  }

  /**
   * An earlier publish with this idempotency key, if any: its publication (duplicate), or an
   * IdempotencyConflictError when the payload differs. Reads only.
   */
  #previous(
    topic: string,
    row: TopicRow | undefined,
    input: AppendInput,
    digest: string | undefined,
    now: number,
  ): AppendResult | null {
    if (input.idempotencyKey === undefined || digest === undefined || !row) return null;
    const seen = this.#stmts.idemGet!.get(topic, input.idempotencyKey, now) as
      { offset: number; digest: string } | undefined;
    if (!seen) return null;
    if (seen.digest !== digest) throw new IdempotencyConflictError();
    const stored = this.#stmts.one!.get(topic, seen.offset) as PubRow | undefined;
    // The original may have been trimmed since; its position is still the answer.
    const publication = stored
      ? this.#toPublication(topic, row.epoch, stored)
      : { topic, epoch: row.epoch, offset: seen.offset, data: input.data, from: input.from, ts: now };
    return { publication, duplicate: true };
  }

  /** The writes of one append (validated already): plain statements inside the group's transaction. */
  #write(
    topic: string,
    row: TopicRow | undefined,
    input: AppendInput,
    digest: string | undefined,
    now: number,
  ): AppendResult {
    if (!row) {
      row = { epoch: this.#unborn.epochOf(topic), last_offset: 0, last_ts: 0 };
      this.#stmts.createTopic!.run(topic, row.epoch);
      this.#unborn.born(topic);
    }
    const offset = row.last_offset + 1;
    const ts = Math.max(now, row.last_ts);
    this.#stmts.insert!.run(topic, offset, JSON.stringify(input.data), input.from, ts);
    const { maxCount, maxAgeMs } = boundsFor(this.#opts, topic);
    const trimCount = offset > maxCount && (offset - maxCount) % TRIM_STEP === 0;
    const trimAge = now >= (this.#ageTrimmedAt.get(topic) ?? 0) + AGE_TRIM_INTERVAL_MS;
    // The topic's row (and its entry in the idle index) is written only here, before a trim may
    // remove its newest publication: at most once a second and once in TRIM_STEP appends, so an
    // append writes one page of the WAL, not three.
    if (trimCount || trimAge) this.#stmts.advance!.run(offset, ts, topic);
    if (trimCount) this.#stmts.trimCount!.run(topic, offset - maxCount);
    if (trimAge) {
      this.#ageTrimmedAt.set(topic, now);
      this.#trimAge(topic, now - maxAgeMs);
    }
    if (input.idempotencyKey !== undefined && digest !== undefined) {
      this.#stmts.idemPut!.run(topic, input.idempotencyKey, offset, digest, now + this.#opts.idempotencyTtlMs);
    }
    return {
      publication: { topic, epoch: row.epoch, offset, data: input.data, from: input.from, ts },
      duplicate: false,
    };
  }

  /** Drop up to 64 publications older than `cutoff` from the head of the topic (reads skip any left). */
  #trimAge(topic: string, cutoff: number): void {
    const head = this.#stmts.head!.get(topic) as { ts: number } | undefined;
    if (!head || head.ts >= cutoff) return;
    const rows = this.#stmts.oldest!.all(topic) as { offset: number; ts: number }[];
    const keep = rows.find((r) => r.ts >= cutoff);
    this.#stmts.trimBefore!.run(topic, keep ? keep.offset : rows.at(-1)!.offset + 1);
  }

  #toPublication(topic: string, epoch: string, r: PubRow): StoredPublication {
    return { topic, epoch, offset: r.offset, data: JSON.parse(r.data) as Json, from: r.publisher, ts: r.ts };
  }

  /**
   * One step of cleanup in the group commit: expired idempotency keys, then idle topics with
   * whatever they still hold. Publications past their age go on append (see `#trimAge`).
   */
  sweep(limit: number): Promise<boolean> {
    const now = this.#opts.now();
    return this.#handle.group.write(() => {
      const keys = this.#stmts.idemSweep!.run(now, limit).changes;
      return this.#dropIdle(now, limit) || keys >= limit;
    });
  }

  /**
   * Remove topics with nothing left (no publication within their bounds, no live idempotency key)
   * and no subscriber here; true when more may be due. Each topic's publications have just been
   * trimmed by age, so its last one is younger than its bounds or it has none.
   */
  #dropIdle(now: number, limit: number): boolean {
    const shortest = Math.min(this.#opts.maxAgeMs, ...(this.#opts.retention ?? []).map((r) => r.maxAgeMs));
    const from = this.#idleCursor ?? { lastTs: -1, name: '' };
    const rows = this.#stmts.idle!.all(now - shortest, from.lastTs, from.name, limit) as {
      name: string;
      last_ts: number;
    }[];
    let removed = 0;
    for (const { name, last_ts: last } of rows) {
      // The row may be behind its newest publication (see #write), which says when it was last used.
      const used = this.#row(name)!.last_ts;
      // Kept: subscribers here hold its epoch, its own bounds are longer, or a key is still owed.
      if (this.#unborn.watched(name) || used >= now - boundsFor(this.#opts, name).maxAgeMs) continue;
      if (this.#stmts.liveKey!.get(name, now) !== undefined) continue;
      this.#stmts.dropTopic!.run(name);
      this.#ageTrimmedAt.delete(name);
      removed += this.#stmts.dropPublications!.run(name).changes;
      this.#stmts.dropKeys!.run(name);
      // Topics with long histories: stop this step after about ten batches' worth of rows.
      if (removed >= 10 * limit) {
        this.#idleCursor = { lastTs: last, name };
        return true;
      }
    }
    const tail = rows.at(-1);
    this.#idleCursor = rows.length < limit || !tail ? null : { lastTs: tail.last_ts, name: tail.name };
    return this.#idleCursor !== null;
  }

  /**
   * Appends join the tick's group commit; the promise resolves, and subscribers get the
   * publication, only once it is committed. Commit order is append order, so each topic is
   * delivered in offset order.
   */
  appendAndPublish(topic: string, input: AppendInput): Promise<AppendResult> {
    const digest = input.idempotencyKey === undefined ? undefined : payloadDigest(input.data);
    const now = this.#opts.now();
    // Check, then write, in one synchronous step: no other append can come between them. The
    // check reads inside the group's transaction: read on its own, outside one, it would open and
    // close a read transaction of its own (the WAL's shared-memory locks, a few syscalls), which
    // cost more than the read itself: 9 of 11 µs, and more on a node that is mostly idle.
    // A duplicate is answered once the original's group has committed, not before.
    return this.#handle.group.write(
      () => {
        const row = this.#row(topic);
        return this.#previous(topic, row, input, digest, now) ?? this.#write(topic, row, input, digest, now);
      },
      (result) => {
        if (!result.duplicate) this.deliver(result.publication);
      },
    );
  }

  history(topic: string, after: number, limit: number): Promise<HistoryPage> {
    const row = this.#row(topic);
    if (!row) return Promise.resolve({ epoch: this.#topic(topic).epoch, earliest: 1, latest: 0, publications: [] });
    const { maxCount, maxAgeMs } = boundsFor(this.#opts, topic);
    const cutoff = this.#opts.now() - maxAgeMs;
    // Up to TRIM_STEP - 1 publications past the count bound may still be stored: never shown.
    const floor = row.last_offset - maxCount;
    const rows = this.#stmts.read!.all(topic, Math.max(after, floor), cutoff, limit) as PubRow[];
    const min = (this.#stmts.earliest!.get(topic, floor, cutoff) as { o: number | null }).o;
    return Promise.resolve({
      epoch: row.epoch,
      earliest: min ?? row.last_offset + 1,
      latest: row.last_offset,
      publications: rows.map((r) => this.#toPublication(topic, row.epoch, r)),
    });
  }

  position(topic: string): Promise<Position> {
    const row = this.#topic(topic);
    return Promise.resolve({ epoch: row.epoch, offset: row.last_offset });
  }

  ready(): Promise<boolean> {
    try {
      this.#db.prepare('SELECT 1').get();
      return Promise.resolve(true);
    } catch {
      return Promise.resolve(false);
    }
  }

  override watch(topic: string): Promise<void> {
    this.#unborn.watch(topic);
    return Promise.resolve();
  }

  override unwatch(topic: string): Promise<void> {
    this.#unborn.unwatch(topic);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#scheduler) this.#handle.group.unfollow(this.#scheduler);
    this.#handle.release();
    return Promise.resolve();
  }
}

/** Build the embedded SQLite broker. */
export function createSqliteBroker(options: SqliteBrokerOptions): Broker {
  return new SqliteBroker(options);
}
