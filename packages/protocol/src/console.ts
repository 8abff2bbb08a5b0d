import type { JobEventType, JobSnapshot, JobStatus } from './jobs.js';
import type { Json } from './messages.js';

/**
 * The operator's APIs on the wire: what `/console` reads, and what a team's own dashboard can
 * read (an API key, or a token granting `admin` on `console`). The node's routes answer with
 * these shapes and its OpenAPI document (`/openapi.json`) describes them.
 */

/** The statuses an operator filters jobs by: the stored ones, plus two read from the record. */
export const JobListStatuses = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'stuck'] as const;
export type JobListStatus = (typeof JobListStatuses)[number];

/** One job in a listing (`GET /v1/jobs`): enough for a row, without input, partials or result. */
export interface JobSummary {
  id: string;
  type: string;
  status: JobStatus;
  /** Queued again after a failed attempt. */
  retrying: boolean;
  likelyStuck: boolean;
  attempt: number;
  maxAttempts: number;
  stage: string | null;
  progress: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** The run time promised when the job started (p50, p90). */
  promised: { p50Ms: number; p90Ms: number };
  /** What the run took, once finished. */
  runMs: number | null;
  /** `code: message` of the job's error. */
  error: string | null;
  /**
   * The offset of the job's last event in its topic (`job:<id>`): of two views of a job, the one
   * with the higher offset is the later (see {@link JobChange}).
   */
  offset: number;
}

/** A page of `GET /v1/jobs`, newest first. */
export interface JobList {
  jobs: JobSummary[];
  /** Pass as `cursor` for older jobs; null when there are none. */
  next: string | null;
}

/**
 * One `job` event of `GET /v1/jobs/stream`: a job of any type changed, on any node. `job` is the
 * job's row after the event; `promised` is null on the events that no longer carry it (a job's
 * end), so a viewer keeps the one it had.
 */
export interface JobChange {
  /** The stored event that made the change (`job.queued`, `job.started`, ... `job.succeeded`). */
  event: JobEventType;
  job: Omit<JobSummary, 'promised'> & { promised: JobSummary['promised'] | null };
}

/** One stored event of a job, as its timeline shows it. */
export interface JobTimelineEntry {
  offset: number;
  at: number;
  type: string;
  status: JobStatus;
  attempt: number;
  stage: string | null;
  progress: number;
  measured: boolean;
  message: string | null;
  partial?: Json;
  retry?: { reason: string; inMs: number };
  error?: { code: string; message: string };
}

/** `GET /v1/jobs/{id}/timeline`: the job's snapshot, every stored event, its attempts, the ETA told at creation. */
export interface JobTimeline {
  job: JobSnapshot;
  events: JobTimelineEntry[];
  /** True when the topic's history no longer holds every event (trimmed, or a new epoch). */
  truncated: boolean;
  attempts: { attempt: number; startedAt: number | null; endedAt: number | null; error: string | null }[];
  /** The ETA told at creation (the first event), and what the job took from creation to its end. */
  eta: { promisedP50Ms: number | null; promisedP90Ms: number | null; actualMs: number | null };
}

/** How the ends promised at creation to a type's queued jobs held, and the start delay learned. */
export interface JobLineCalibration {
  /** Queued jobs that succeeded and were checked (the last 100 at most). */
  jobs: number;
  /** Share that ended by the p90 end promised at creation. */
  p90Coverage: number | null;
  /** Median of abs(promised p50 end - actual end) / actual, both from creation. */
  medianAbsP50Error: number | null;
  /** The start delay learned: a fixed part and a part per round of the workers waited. */
  startDelay: { fixedMs: number; perRoundMs: number };
}

/**
 * A job type (`GET /v1/job-types/{type}`, and each of `GET /v1/job-types`): its model, its
 * calibration, and its line with how its promises to queued jobs held.
 */
export interface JobTypeInfo {
  type: string;
  model: { fixedMs: number; perUnitMs: number; samples: number; shifted: boolean } | null;
  estimate: { p50Ms: number; p90Ms: number; source: string; samples: number };
  calibration: { runs: number; p90Coverage: number | null; medianAbsP50Error: number | null; p90Level: number };
  line: { queued: number; running: number; concurrency: number; calibration: JobLineCalibration };
}

/** `GET /v1/job-types/{type}/stats`: a type's charts. */
export interface JobTypeStats extends JobTypeInfo {
  /** Durations of the last runs (whole job), in equal bins from 0. */
  durations: { binMs: number; counts: number[]; samples: number };
  /** The latest finished runs, oldest first: time in line, run time and the run's promised p50/p90. */
  recent: {
    id: string;
    status: string;
    finishedAt: number;
    waitMs: number | null;
    runMs: number | null;
    promisedP50Ms: number;
    promisedP90Ms: number;
  }[];
  /** Per interval, summed over the nodes: created, finished by status, and queued/running at its end. */
  series: {
    at: number;
    created: number;
    succeeded: number;
    failed: number;
    cancelled: number;
    queued: number;
    running: number;
  }[];
}

/** One histogram as the console charts it: bucket upper bounds (seconds) and the count in each (not cumulative). */
export interface Histo {
  le: number[];
  /** One more than `le`: the last is the count above the largest bound. */
  counts: number[];
  count: number;
  sum: number;
}

/** `GET /v1/console/budget`: the interactivity budget over all nodes. */
export interface ConsoleBudget {
  cadenceMs: number;
  nodes: number;
  /** The longest silence each job watcher had, observed when it left. */
  longestSilence: Histo;
  /** Every gap between two updates a job watcher got. */
  gaps: Histo;
  /** From a job's creation to its first event, for watchers who came with the 202. */
  firstEvent: Histo;
}

/** A topic among the busiest. */
export interface TopicActivity {
  topic: string;
  publications: number;
  subscribers: number;
}

/** A topic's presence occupancy. */
export interface PresenceActivity {
  topic: string;
  members: number;
  connections: number;
}

/** One interval of `GET /v1/console/activity` (counts over the interval, summed over the nodes). */
export interface ConsoleActivityPoint {
  at: number;
  connections: Record<string, number>;
  subscriptions: number;
  publications: number;
  slowConsumerDrops: number;
  rateLimited: number;
}

/** `GET /v1/console/activity`: topics and people over all nodes. */
export interface ConsoleActivity {
  nodes: number;
  sampleMs: number;
  connections: Record<string, number>;
  subscriptions: number;
  series: ConsoleActivityPoint[];
  topics: TopicActivity[];
  presence: PresenceActivity[];
}

/** One node of `GET /v1/console/nodes`. */
export interface ConsoleNode {
  node: string;
  startedAt: number;
  at: number;
  reportAgeMs: number;
  /** False once the last report is older than two report intervals (the node drops out after four). */
  reporting: boolean;
  ready: boolean;
  connections: Record<string, number>;
  subscriptions: number;
  rssBytes: number;
  loadAverage: number;
}

/** `GET /v1/console/nodes`. */
export interface ConsoleNodes {
  /** The node that answered. */
  self: string;
  nodes: ConsoleNode[];
}
