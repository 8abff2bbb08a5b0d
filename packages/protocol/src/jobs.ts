import type { Json } from './messages.js';

/**
 * Jobs on the wire. A job's events are publications on its topic, `job:<id>`, so they inherit
 * ordering, history and resume. Every stored event carries the job's full state (without the
 * partial results, which travel one per `job.partial` event), so a watcher can render from any
 * single event; ticks are ephemeral and carry the same state, refreshed.
 */

/** The topic of a job's events. Only the node publishes there. */
export const jobTopic = (id: string): string => `job:${id}`;
/** Prefix reserved for job topics. */
export const JOB_TOPIC_PREFIX = 'job:';

export const JobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JobStatuses)[number];

/** Whether a status is terminal: exactly one terminal event is ever published per job. */
export const isTerminal = (status: JobStatus): boolean =>
  status === 'succeeded' || status === 'failed' || status === 'cancelled';

/** How the UI should wait: no spinner under ~1 s, progress for medium waits, engage past ~30 s. */
export type WaitStrategy = 'instant' | 'progress' | 'engage';

export interface JobEta {
  /**
   * Best estimate (p50) of the time left, ms: while queued, the expected wait plus the run; while
   * running, the median of what remained for past runs that lasted at least this long.
   */
  remainingMs: number;
  /** The time left that 9 in 10 jobs like this stay within, ms (same basis as `remainingMs`). */
  remainingP90Ms?: number;
  /** Typical and slow total durations for this job, ms. */
  p50Ms: number;
  p90Ms: number;
  basis: {
    /** `history`: finished jobs of this type; `history-scaled`: the same, scaled by the size hint; `default`: no history yet. */
    source: 'history' | 'history-scaled' | 'default';
    samples: number;
  };
}

/** A queued job's place in line. */
export interface JobQueuePlace {
  /** 1 for the next job of its type to start. */
  position: number;
  /** When it is expected to start (epoch ms), or null while no worker of its type has been seen. */
  expectedStartAt: number | null;
  /** The same, as a wait from when this state was made, ms. */
  startsInMs: number | null;
}

export interface JobStage {
  name: string;
  /** 0-based index in the plan (or in order of appearance). */
  index: number;
  /** Number of stages, when the plan is known. */
  count?: number;
  /** The names of every stage in order, when the plan is known (so a UI can show what is done and what comes). */
  plan?: string[];
}

export interface JobProgress {
  /** 0..1; never 1 before the job has ended. */
  fraction: number;
  /** True when the worker reported it; false when estimated from elapsed time and the learned ETA. */
  measured: boolean;
}

export interface JobError {
  code: string;
  message: string;
}

/** A job's state as watchers and `GET /v1/jobs/{id}` see it. */
export interface JobState {
  id: string;
  type: string;
  status: JobStatus;
  topic: string;
  stage: JobStage | null;
  progress: JobProgress;
  eta: JobEta | null;
  flags: { slowerThanUsual: boolean; likelyStuck: boolean };
  /**
   * While queued behind other jobs of its type: its place in line (1 = next) and when it is
   * expected to start (learned from the type's running jobs and how many run at once).
   */
  queue?: JobQueuePlace;
  /** The latest human-readable message (from the worker, or the node's "taking longer than usual"). */
  message: string | null;
  result?: Json;
  error?: JobError;
  attempt: number;
  maxAttempts: number;
  strategy: WaitStrategy;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  elapsedMs: number;
  cancelRequested: boolean;
}

/** The snapshot of `GET /v1/jobs/{id}`: the state, every partial result so far, and its position. */
export interface JobSnapshot extends JobState {
  partials: Json[];
  /** The job topic's epoch and the offset of the last event this snapshot reflects. */
  epoch: string;
  offset: number;
}

export const JobEventTypes = [
  'job.queued',
  'job.started',
  'job.stage',
  'job.progress',
  'job.partial',
  'job.message',
  'job.retrying',
  'job.tick',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
] as const;
export type JobEventType = (typeof JobEventTypes)[number];

/** The data of a publication on a job topic. */
export interface JobEvent {
  type: JobEventType;
  job: JobState;
  /** For `job.partial`: the chunk. */
  partial?: Json;
  /** For `job.retrying`: why, and when the next attempt starts. */
  retry?: { reason: string; inMs: number };
}

export const TERMINAL_EVENTS: readonly JobEventType[] = ['job.succeeded', 'job.failed', 'job.cancelled'];
