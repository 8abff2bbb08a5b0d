import { Type } from '@sinclair/typebox';

const name = { pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$' };

export const JobParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });

export const CreateJobBody = Type.Object({
  type: Type.String({ ...name, description: 'Job type, served by an in-process handler or remote workers' }),
  input: Type.Optional(Type.Unknown({ description: 'Any JSON value, handed to the worker' })),
  size: Type.Optional(
    Type.Unknown({ description: 'Size hint: one named positive measure, e.g. {"audioSeconds": 240}' }),
  ),
});

const QueuePlace = Type.Object(
  {
    position: Type.Integer({ description: '1 for the next job of its type to start' }),
    expectedStartAt: Type.Union([Type.Integer(), Type.Null()]),
    startsInMs: Type.Union([Type.Integer(), Type.Null()]),
  },
  { description: 'A queued job’s place in line and when it is expected to start' },
);

const Eta = Type.Object({
  remainingMs: Type.Number({ description: 'p50 of the time left: the wait in line plus the run while queued' }),
  remainingP90Ms: Type.Optional(Type.Number({ description: 'p90 of the time left' })),
  p50Ms: Type.Number(),
  p90Ms: Type.Number(),
  basis: Type.Object({ source: Type.String(), samples: Type.Integer() }),
});

export const CreatedJob = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  topic: Type.String(),
  token: Type.String({ description: 'Read token for this job alone (job:read, job:cancel, subscribe on its topic)' }),
  tokenExpiresAt: Type.Integer(),
  eta: Type.Union([Eta, Type.Null()]),
  queue: Type.Optional(QueuePlace),
  strategy: Type.String({ description: 'instant | progress | engage' }),
  createdAt: Type.Integer(),
  links: Type.Object({ self: Type.String(), stream: Type.String(), cancel: Type.String() }),
});

export const JobSnapshotSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    status: Type.String(),
    topic: Type.String(),
    stage: Type.Union([
      Type.Object({
        name: Type.String(),
        index: Type.Integer(),
        count: Type.Optional(Type.Integer()),
        plan: Type.Optional(Type.Array(Type.String())),
      }),
      Type.Null(),
    ]),
    progress: Type.Object({ fraction: Type.Number(), measured: Type.Boolean() }),
    eta: Type.Union([Eta, Type.Null()]),
    queue: Type.Optional(QueuePlace),
    flags: Type.Object({ slowerThanUsual: Type.Boolean(), likelyStuck: Type.Boolean() }),
    message: Type.Union([Type.String(), Type.Null()]),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    attempt: Type.Integer(),
    maxAttempts: Type.Integer(),
    strategy: Type.String(),
    createdAt: Type.Integer(),
    startedAt: Type.Union([Type.Integer(), Type.Null()]),
    finishedAt: Type.Union([Type.Integer(), Type.Null()]),
    elapsedMs: Type.Integer(),
    cancelRequested: Type.Boolean(),
    partials: Type.Array(Type.Unknown()),
    epoch: Type.String(),
    offset: Type.Integer(),
  },
  { description: 'A job snapshot; `epoch`/`offset` is the job topic position it reflects' },
);

export const LeaseBody = Type.Object({
  types: Type.Array(Type.String(name), { minItems: 1, maxItems: 50 }),
  worker: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  waitMs: Type.Integer({
    minimum: 0,
    maximum: 30_000,
    default: 20_000,
    description: 'Long-poll: how long to wait for a job',
  }),
  leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
});

export const LeaseReply = Type.Object({
  job: Type.Object({
    id: Type.String(),
    type: Type.String(),
    input: Type.Unknown(),
    size: Type.Unknown(),
    attempt: Type.Integer(),
  }),
  lease: Type.Object({ token: Type.String(), fence: Type.Integer(), expiresAt: Type.Integer() }),
});

const leaseToken = Type.String({ minLength: 1, maxLength: 200, description: 'The lease token from /v1/workers/lease' });

export const ProgressBody = Type.Object({
  lease: leaseToken,
  progress: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  stage: Type.Optional(
    Type.Object({
      name: Type.String({ minLength: 1, maxLength: 100 }),
      weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    }),
  ),
  partial: Type.Optional(Type.Unknown()),
  message: Type.Optional(Type.String({ maxLength: 500 })),
});

export const HeartbeatBody = Type.Object({ lease: leaseToken });

export const LeaseState = Type.Object({
  cancelRequested: Type.Boolean({ description: 'Stop work and report /fail or /complete: the job will end cancelled' }),
  leaseExpiresAt: Type.Integer(),
  fence: Type.Integer(),
});

export const CompleteBody = Type.Object({ lease: leaseToken, result: Type.Optional(Type.Unknown()) });

export const FailBody = Type.Object({
  lease: leaseToken,
  error: Type.Object({
    message: Type.String({ maxLength: 2000 }),
    code: Type.Optional(Type.String({ maxLength: 100 })),
  }),
  retryable: Type.Boolean({ default: true }),
});

export const JobStatusReply = Type.Object({
  id: Type.String(),
  status: Type.String(),
  cancelRequested: Type.Boolean(),
});

export const JobTypeParams = Type.Object({ type: Type.String(name) });

const Nullable = (t: ReturnType<typeof Type.Number>) => Type.Union([t, Type.Null()]);

export const JobTypeReply = Type.Object({
  type: Type.String(),
  model: Type.Union([
    Type.Object({
      fixedMs: Type.Number({ description: 'Time every run takes whatever its size' }),
      perUnitMs: Type.Number({ description: 'Time per unit of the size hint (0 when runs carry none)' }),
      samples: Type.Integer({ description: 'Runs the fit used (the newest, or those since a change of speed)' }),
      shifted: Type.Boolean({ description: 'The type changed speed lately and older runs were set aside' }),
    }),
    Type.Null(),
  ]),
  estimate: Type.Object({ p50Ms: Type.Number(), p90Ms: Type.Number(), source: Type.String(), samples: Type.Integer() }),
  calibration: Type.Object({
    runs: Type.Integer({ description: 'Runs observed (the last 100 at most)' }),
    p90Coverage: Nullable(Type.Number({ description: 'Share that ended within their promised p90' })),
    medianAbsP50Error: Nullable(Type.Number({ description: 'Median of abs(p50 - actual) / actual' })),
    p90Level: Type.Number({ description: 'Quantile level p90 is read at now' }),
  }),
  line: Type.Object({
    queued: Type.Integer(),
    running: Type.Integer(),
    concurrency: Type.Integer({ description: 'Jobs of the type seen running at once lately' }),
    calibration: Type.Object({
      jobs: Type.Integer({ description: 'Queued jobs that succeeded and were checked (the last 100 at most)' }),
      p90Coverage: Nullable(Type.Number({ description: 'Share that ended by the p90 end promised at creation' })),
      medianAbsP50Error: Nullable(
        Type.Number({ description: 'Median of abs(promised p50 end - actual end) / actual, from creation' }),
      ),
      startDelay: Type.Object({
        fixedMs: Type.Number({ description: 'Learned start delay past the schedule (a worker picking up)' }),
        perRoundMs: Type.Number({ description: '... and per round of the workers waited' }),
      }),
    }),
  }),
});
