import type { Statement } from 'better-sqlite3';
import {
  JOB_FINISHED_TTL_MS,
  type DurationSample,
  type JobListPage,
  type JobListQuery,
  type JobRecord,
  type JobStoreOptions,
  type QueueingJobStore,
} from '../ports/job-store.js';
import { openDatabase, type SqliteHandle } from './sqlite-database.js';

/** Duration samples kept per (type, stage). */
const KEEP_SAMPLES = 500;
/** Samples recorded between trims. */
const TRIM_EVERY = 64;
/** The terminal statuses, as SQL (the partial index and the query must match it exactly). */
const FINISHED = "('succeeded', 'failed', 'cancelled')";

export interface SqliteJobStoreOptions extends JobStoreOptions {
  /** The SQLite file (shared with the broker), or `:memory:`. */
  file: string;
  synchronous?: 'NORMAL' | 'FULL';
}

/**
 * Jobs in SQLite: indexed columns for what the node queries (status, type, due time, lease
 * expiry, idempotency) and the rest of the record as JSON. Shares the node's database file.
 */
export class SqliteJobStore implements QueueingJobStore {
  readonly #handle: SqliteHandle;
  readonly #s: Record<string, Statement>;
  #sinceTrim = 0;
  /** Prepared listing queries, one per combination of filters. */
  readonly #listing = new Map<string, Statement>();
  readonly #finishedTtlMs: number;
  readonly #now: () => number;

  constructor(options: SqliteJobStoreOptions) {
    this.#finishedTtlMs = options.finishedTtlMs ?? JOB_FINISHED_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#handle = openDatabase(options.file, options.synchronous ?? 'NORMAL');
    const db = this.#handle.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, run_after INTEGER NOT NULL,
        lease_expires_at INTEGER, created_by TEXT NOT NULL, idempotency_key TEXT, data TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, type, run_after);
      CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (status, lease_expires_at);
      CREATE INDEX IF NOT EXISTS jobs_listing ON jobs (status, id);
      CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (json_extract(data, '$.finishedAt')) WHERE status IN ${FINISHED};
      CREATE TABLE IF NOT EXISTS job_durations (
        type TEXT NOT NULL, stage TEXT NOT NULL, at INTEGER NOT NULL, ms INTEGER NOT NULL, size REAL
      );
      CREATE INDEX IF NOT EXISTS job_durations_key ON job_durations (type, stage, at);
    `);
    this.#s = {
      get: db.prepare('SELECT data FROM jobs WHERE id = ?'),
      byKey: db.prepare('SELECT data FROM jobs WHERE created_by = ? AND idempotency_key = ?'),
      insert: db.prepare(
        'INSERT INTO jobs (id, type, status, run_after, lease_expires_at, created_by, idempotency_key, data) VALUES (@id, @type, @status, @runAfter, @leaseExpiresAt, @createdBy, @idempotencyKey, @data)',
      ),
      save: db.prepare(
        'UPDATE jobs SET status = @status, run_after = @runAfter, lease_expires_at = @leaseExpiresAt, data = @data WHERE id = @id',
      ),
      due: db.prepare(
        "SELECT id FROM jobs WHERE status = 'queued' AND type IN (SELECT value FROM json_each(?)) AND run_after <= ? ORDER BY run_after LIMIT ?",
      ),
      expired: db.prepare("SELECT data FROM jobs WHERE status = 'running' AND lease_expires_at < ?"),
      unfinished: db.prepare("SELECT data FROM jobs WHERE status IN ('queued', 'running')"),
      addDuration: db.prepare('INSERT INTO job_durations (type, stage, at, ms, size) VALUES (?, ?, ?, ?, ?)'),
      trimDurations: db.prepare(
        'DELETE FROM job_durations WHERE type = ? AND stage = ? AND at < (SELECT at FROM job_durations WHERE type = ? AND stage = ? ORDER BY at DESC LIMIT 1 OFFSET ?)',
      ),
      // INDEXED BY: without statistics the planner prefers jobs_queue, and would read every
      // finished job when none has expired yet.
      expire: db.prepare(
        `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs INDEXED BY jobs_finished WHERE status IN ${FINISHED}
         AND json_extract(data, '$.finishedAt') < ? LIMIT ?)`,
      ),
      durations: db.prepare(
        'SELECT type, stage, at, ms, size FROM job_durations WHERE type = ? AND stage = ? ORDER BY at DESC LIMIT ?',
      ),
    };
  }

  #row(job: JobRecord) {
    return {
      id: job.id,
      type: job.type,
      status: job.status,
      runAfter: job.runAfter,
      leaseExpiresAt: job.lease?.expiresAt ?? null,
      createdBy: job.createdBy,
      idempotencyKey: job.idempotencyKey,
      data: JSON.stringify(job),
    };
  }

  #many(stmt: Statement, ...args: unknown[]): JobRecord[] {
    return (stmt.all(...args) as { data: string }[]).map((r) => JSON.parse(r.data) as JobRecord);
  }

  // Writes join the shared group commit and resolve once committed (see GroupCommit); anything
  // that may refuse is checked first, in the same synchronous step.
  insert(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    if (job.idempotencyKey !== null) {
      const row = this.#s.byKey!.get(job.createdBy, job.idempotencyKey) as { data: string } | undefined;
      if (row) {
        const existing = JSON.parse(row.data) as JobRecord;
        return this.#handle.group.write(() => ({ job: existing, created: false }));
      }
    }
    const values = this.#row(job);
    return this.#handle.group.write(() => {
      this.#s.insert!.run(values);
      return { job, created: true };
    });
  }

  get(id: string): Promise<JobRecord | null> {
    const row = this.#s.get!.get(id) as { data: string } | undefined;
    return Promise.resolve(row ? (JSON.parse(row.data) as JobRecord) : null);
  }

  save(job: JobRecord): Promise<void> {
    const row = this.#row(job);
    return this.#handle.group.write(() => void this.#s.save!.run(row));
  }

  list(query: JobListQuery): Promise<JobListPage> {
    // Newest first by id (ids sort by creation); by status through jobs_listing, by type through
    // the primary key with the type checked on each row (a console's page, not a report).
    const where: string[] = [];
    const args: unknown[] = [];
    const filter = (clause: string, value: unknown): void => {
      where.push(clause);
      args.push(value);
    };
    if (query.status !== undefined) filter('status = ?', query.status);
    if (query.type !== undefined) filter('type = ?', query.type);
    if (query.before !== undefined) filter('id < ?', query.before);
    const sql = `SELECT data FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    let stmt = this.#listing.get(sql);
    if (!stmt) this.#listing.set(sql, (stmt = this.#handle.db.prepare(sql)));
    const jobs = this.#many(stmt, ...args, query.limit);
    return Promise.resolve({ jobs, next: jobs.length === query.limit ? jobs.at(-1)!.id : null });
  }

  dueIds(types: readonly string[], now: number, limit: number): Promise<string[]> {
    const rows = this.#s.due!.all(JSON.stringify(types), now, limit) as { id: string }[];
    return Promise.resolve(rows.map((r) => r.id));
  }

  expired(now: number): Promise<JobRecord[]> {
    return Promise.resolve(this.#many(this.#s.expired!, now));
  }

  unfinished(): Promise<JobRecord[]> {
    return Promise.resolve(this.#many(this.#s.unfinished!));
  }

  addDuration(sample: DurationSample): Promise<void> {
    return this.#handle.group.write(() => {
      this.#s.addDuration!.run(sample.type, sample.stage, sample.at, Math.round(sample.ms), sample.size);
      // Trimming is a range delete: do it now and then, not on every finished job.
      if (++this.#sinceTrim % TRIM_EVERY === 0) {
        this.#s.trimDurations!.run(sample.type, sample.stage, sample.type, sample.stage, KEEP_SAMPLES);
      }
    });
  }

  durations(type: string, stage: string, limit: number): Promise<DurationSample[]> {
    return Promise.resolve(this.#s.durations!.all(type, stage, limit) as DurationSample[]);
  }

  sweep(limit: number): Promise<boolean> {
    const cutoff = this.#now() - this.#finishedTtlMs;
    return this.#handle.group.write(() => this.#s.expire!.run(cutoff, limit).changes >= limit);
  }

  close(): Promise<void> {
    this.#handle.release();
    return Promise.resolve();
  }
}

/** Build the SQLite job store (`file: ':memory:'` for a node without durable storage). */
export function createSqliteJobStore(options: SqliteJobStoreOptions): QueueingJobStore {
  return new SqliteJobStore(options);
}
