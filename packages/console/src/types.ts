/** The shapes of the `/v1` replies the console reads (see /openapi.json). */
export interface JobSummary {
  id: string;
  type: string;
  status: string;
  retrying: boolean;
  likelyStuck: boolean;
  attempt: number;
  maxAttempts: number;
  stage: string | null;
  progress: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  promised: { p50Ms: number; p90Ms: number };
  runMs: number | null;
  error: string | null;
}

export interface TimelineEvent {
  offset: number;
  at: number;
  type: string;
  status: string;
  attempt: number;
  stage: string | null;
  progress: number;
  measured: boolean;
  message: string | null;
  partial?: unknown;
  retry?: { reason: string; inMs: number };
  error?: { code: string; message: string };
}

export interface Timeline {
  job: {
    id: string;
    type: string;
    status: string;
    attempt: number;
    maxAttempts: number;
    createdAt: number;
    startedAt: number | null;
    finishedAt: number | null;
    elapsedMs: number;
    cancelRequested: boolean;
    progress: { fraction: number; measured: boolean };
    stage: { name: string } | null;
    message: string | null;
    flags: { slowerThanUsual: boolean; likelyStuck: boolean };
    partials: unknown[];
    result?: unknown;
    error?: { code: string; message: string };
  };
  events: TimelineEvent[];
  truncated: boolean;
  attempts: { attempt: number; startedAt: number | null; endedAt: number | null; error: string | null }[];
  eta: { promisedP50Ms: number | null; promisedP90Ms: number | null; actualMs: number | null };
}

export interface TypeInfo {
  type: string;
  estimate: { p50Ms: number; p90Ms: number; source: string; samples: number };
  calibration: { runs: number; p90Coverage: number | null; medianAbsP50Error: number | null; p90Level: number };
  line: { queued: number; running: number; concurrency: number };
}

export interface TypeStats extends TypeInfo {
  durations: { binMs: number; counts: number[]; samples: number };
  recent: {
    id: string;
    status: string;
    finishedAt: number;
    waitMs: number | null;
    runMs: number | null;
    promisedP50Ms: number;
    promisedP90Ms: number;
  }[];
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

export interface Histo {
  le: number[];
  counts: number[];
  count: number;
  sum: number;
}
