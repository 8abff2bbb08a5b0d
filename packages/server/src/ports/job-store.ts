import type { JobError, JobStatus, Json } from '@inloop/protocol';

/** A size hint: one named measure of the input, e.g. `{ audioSeconds: 240 }`. */
export interface SizeHint {
  unit: string;
  value: number;
}

export interface PlannedStage {
  name: string;
  weight: number;
}

/** The lease under which a worker runs a job. */
export interface Lease {
  /** Secret presented by the worker with every report. */
  token: string;
  /** Increases with every lease of this job: a fencing token for the worker's own side effects. */
  fence: number;
  worker: string;
  expiresAt: number;
}

/** A job as stored. The node's `JobService` is the only writer. */
export interface JobRecord {
  id: string;
  type: string;
  input: Json;
  size: SizeHint | null;
  status: JobStatus;
  attempt: number;
  maxAttempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** A queued job is not leased before this time (retry backoff). */
  runAfter: number;
  plan: PlannedStage[] | null;
  /** The current stage; `p50Ms` is its learned typical duration, when it has history. */
  stage: { name: string; index: number; weight: number; startedAt: number; p50Ms: number | null } | null;
  /** Sum of the weights of finished stages. */
  stageWeightDone: number;
  /** Stages finished in this attempt, with their durations, for learning. */
  stageDurations: { name: string; ms: number }[];
  /** Last measured fraction reported by the worker (within the current stage when staged). */
  measured: number | null;
  message: string | null;
  partials: Json[];
  result?: Json;
  error?: JobError;
  lease: Lease | null;
  fence: number;
  /** Last sign of life from the worker itself (reports, remote heartbeats). */
  lastSignAt: number | null;
  cancelRequested: boolean;
  cancelRequestedAt: number | null;
  idempotencyKey: string | null;
  createdBy: string;
  /** Estimate made when the job was created (refreshed as history grows). */
  estimate: {
    p50Ms: number;
    p90Ms: number;
    source: 'history' | 'history-scaled' | 'default';
    samples: number;
    /** Durations at cumulative levels 0, 0.05, ... 1: what remaining time is read from once running. */
    curve?: number[];
  };
  /** Job topic position of the last stored event that this record reflects. */
  epoch: string;
  lastOffset: number;
}

/** A finished run, for learning durations. `stage` is '' for the whole job. */
export interface DurationSample {
  type: string;
  stage: string;
  ms: number;
  /** Size-hint value, when the job had one. */
  size: number | null;
  at: number;
}

/**
 * The job port: each job's record and the duration history estimates learn from. Implementations
 * must guarantee:
 * - `insert` is idempotent per (`createdBy`, `idempotencyKey`): a second insert with the same pair
 *   returns the first job with `created: false` and stores nothing.
 * - `save` is durable when it resolves (a job acknowledged as created survives a crash).
 * - Duration samples are kept per (type, stage), at least the latest `limit` of them.
 * - **Retention**: a finished job is kept `finishedTtlMs` after it finished, then removed (by
 *   {@link JobStore.sweep}, or by key expiry) with its idempotency key; an unfinished job is never
 *   removed. Its topic follows the broker's bounds for job topics (the node gives them the same age).
 * Mutual exclusion between writers of one job is the service's job (its `JobLocks`), not
 * the store's.
 */
export interface JobStore {
  insert(job: JobRecord): Promise<{ job: JobRecord; created: boolean }>;
  get(id: string): Promise<JobRecord | null>;
  save(job: JobRecord): Promise<void>;
  /** Every job not yet finished (for recovery after a restart). */
  unfinished(): Promise<JobRecord[]>;
  addDuration(sample: DurationSample): Promise<void>;
  durations(type: string, stage: string, limit: number): Promise<DurationSample[]>;
  /**
   * A page of jobs, newest first (ids sort by creation), for an operator's listing. Filters are
   * exact; an implementation may look at a bounded number of records per call and return fewer
   * than `limit` with a `next` cursor to continue from (null once nothing older is left).
   */
  list(query: JobListQuery): Promise<JobListPage>;
  /** One short step of cleanup, looking at about `limit` jobs; true when more may be due. */
  sweep(limit: number): Promise<boolean>;
  close(): Promise<void>;
}

/** What {@link JobStore.list} is asked for. */
export interface JobListQuery {
  type?: string | undefined;
  status?: JobStatus | undefined;
  /** Only jobs older than this id: the `next` of the previous page. */
  before?: string | undefined;
  limit: number;
}

/** A page of {@link JobStore.list}: the jobs found, and where to continue (null: nothing older). */
export interface JobListPage {
  jobs: JobRecord[];
  next: string | null;
}

/** How long a finished job stays readable. */
export interface JobStoreOptions {
  /** A finished job is removed this long after it finished. @default 604_800_000 (7 days) */
  finishedTtlMs?: number;
  /** Clock, injectable for tests. @default Date.now */
  now?: () => number;
}

/** The default of {@link JobStoreOptions.finishedTtlMs}. */
export const JOB_FINISHED_TTL_MS = 604_800_000;

/**
 * A store that can also serve as its own queue (the embedded default): it finds due and
 * expired jobs by their records' status, due time and lease expiry.
 */
export interface QueueingJobStore extends JobStore {
  /** Ids of due queued jobs (`runAfter <= now`) of the given types, oldest first. */
  dueIds(types: readonly string[], now: number, limit: number): Promise<string[]>;
  /** Running jobs whose lease expired before `now`. */
  expired(now: number): Promise<JobRecord[]>;
}
