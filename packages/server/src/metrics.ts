import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A job type's rolling ETA calibrations: its runs' (`Estimator.calibration`) and its line's (`JobLine.calibration`). */
export interface TypeCalibrations {
  type: string;
  run: { p90Coverage: number | null; medianAbsP50Error: number | null; p90Level: number };
  line: { p90Coverage: number | null; medianAbsP50Error: number | null };
}

/** The node's Prometheus metrics, in a registry of its own (several nodes may share a process). */
export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: 'inloop_connections',
    help: 'Open client connections',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'inloop_subscriptions',
    help: 'Active topic subscriptions on this node',
    registers: [this.registry],
  });
  readonly publications = new Counter({
    name: 'inloop_publications_total',
    help: 'Publications accepted, by kind (stored or ephemeral)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'inloop_deliveries_total',
    help: 'Publications written to subscribers (one per publication per subscriber)',
    registers: [this.registry],
  });
  readonly drops = new Counter({
    name: 'inloop_drops_total',
    help: 'Connections dropped by the node, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** Read on scrape from {@link observePendingBytes}. */
  #pendingBytes: () => number = () => 0;
  readonly pendingBytes = new Gauge({
    name: 'inloop_pending_bytes',
    help: 'Outbound bytes the node holds for its clients (queued and in socket buffers), each connection bounded by maxBufferedBytes',
    registers: [this.registry],
    collect: (): void => {
      this.pendingBytes.set(this.#pendingBytes());
    },
  });
  readonly faults = new Counter({
    name: 'inloop_faults_total',
    help: 'Unexpected faults the node contained instead of crashing, by where (connection, fanout, timer, storage); each is logged with its cause',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'inloop_errors_total',
    help: 'Errors returned to clients, by stable code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly fanoutSeconds = new Histogram({
    name: 'inloop_fanout_seconds',
    help: 'From accepting a publication to writing it to every local subscriber',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly replayed = new Counter({
    name: 'inloop_replayed_total',
    help: 'Publications replayed from history to resuming subscribers',
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'inloop_resumes_total',
    help: 'Resume attempts by outcome (recovered or reset)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly jobsCreated = new Counter({
    name: 'inloop_jobs_created_total',
    help: 'Jobs created, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly jobsFinished = new Counter({
    name: 'inloop_jobs_finished_total',
    help: 'Jobs that reached a terminal state, by type and status',
    labelNames: ['type', 'status'] as const,
    registers: [this.registry],
  });
  /** Read on scrape from {@link observeCalibrations}. */
  #calibrations: () => readonly TypeCalibrations[] = () => [];
  /** One gauge per field of the calibrations, set on scrape for each type that has a value. */
  #calibrationGauge(name: string, help: string, value: (c: TypeCalibrations) => number | null): Gauge<'type'> {
    const gauge: Gauge<'type'> = new Gauge({
      name,
      help,
      labelNames: ['type'] as const,
      registers: [this.registry],
      collect: (): void => {
        for (const c of this.#calibrations()) {
          const v = value(c);
          if (v !== null) gauge.set({ type: c.type }, v);
        }
      },
    });
    return gauge;
  }
  readonly jobEtaP90Coverage = this.#calibrationGauge(
    'inloop_job_eta_p90_coverage_ratio',
    'Share of the last 100 runs of a job type that ended within the p90 promised when they started',
    (c) => c.run.p90Coverage,
  );
  readonly jobEtaP50Error = this.#calibrationGauge(
    'inloop_job_eta_p50_error_ratio',
    'Median of abs(promised p50 - actual) / actual over the last 100 runs of a job type',
    (c) => c.run.medianAbsP50Error,
  );
  readonly jobEtaP90Level = this.#calibrationGauge(
    'inloop_job_eta_p90_level',
    'Quantile level the p90 of a job type is read at (0.9 nudged by observed misses)',
    (c) => c.run.p90Level,
  );
  readonly jobLineEtaP90Coverage = this.#calibrationGauge(
    'inloop_job_line_eta_p90_coverage_ratio',
    'Share of the last 100 jobs of a type that succeeded by the p90 end promised at creation (the wait in line included)',
    (c) => c.line.p90Coverage,
  );
  readonly jobLineEtaP50Error = this.#calibrationGauge(
    'inloop_job_line_eta_p50_error_ratio',
    'Median of abs(promised p50 end - actual end) / actual, both from creation, over the last 100 jobs of a type that succeeded',
    (c) => c.line.medianAbsP50Error,
  );

  /**
   * Where the job types' rolling ETA calibrations are read from on scrape (see `Estimator.observe`
   * and `JobLine.calibration`), not pushed after every run.
   */
  observeCalibrations(read: () => readonly TypeCalibrations[]): void {
    this.#calibrations = read;
  }

  readonly jobWatchGapSeconds = new Histogram({
    name: 'inloop_job_watch_gap_seconds',
    help: 'Silence between consecutive updates written to one watcher of a live job (the cadence guarantee)',
    buckets: [0.1, 0.5, 1, 2, 3, 4, 4.75, 5, 5.25, 5.5, 6, 8, 10, 10.25, 15, 30],
    registers: [this.registry],
  });
  readonly jobWatchLongestSilenceSeconds = new Histogram({
    name: 'inloop_job_watch_longest_silence_seconds',
    help: 'The longest silence one watcher of a job had, observed when it stops watching (the interactivity budget)',
    buckets: [0.5, 1, 2, 3, 4, 5, 5.25, 5.5, 6, 8, 10, 10.25, 15, 30, 60],
    registers: [this.registry],
  });
  readonly jobFirstEventSeconds = new Histogram({
    name: 'inloop_job_first_event_seconds',
    help: 'From a job being accepted (202) to the first event written to a watcher that subscribed within a second of it',
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly presenceMessages = new Counter({
    name: 'inloop_presence_messages_total',
    help: 'Presence diffs written to watchers (coalesced per topic and flush interval)',
    registers: [this.registry],
  });
  readonly conversationMessages = new Counter({
    name: 'inloop_conversation_messages_total',
    help: 'Messages stored in conversations',
    registers: [this.registry],
  });
  readonly receipts = new Counter({
    name: 'inloop_receipts_total',
    help: 'Receipt watermarks moved, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'inloop_process_' });
  }

  /** Where `inloop_pending_bytes` is read from (the node's connections). */
  observePendingBytes(read: () => number): void {
    this.#pendingBytes = read;
  }
}
