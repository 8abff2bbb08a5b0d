import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  JobListStatuses,
  type ConsoleActivity,
  type ConsoleBudget,
  type ConsoleNodes,
  type Histo as HistoType,
  type JobList,
  type JobListStatus,
  type JobSummary,
  type JobTimeline,
  type JobTypeInfo,
  type JobTypeStats,
} from '@inloop/protocol';
import { JobSnapshotSchema, JobTypeReply } from './job-schemas.js';

/** Schemas of the operator's APIs (`console.ts`): they validate, serialize and document. */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Int = Type.Integer();
const Num = Type.Number();

export const JobListQuery = Type.Object({
  type: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_\\-.:@=+]{1,200}$' })),
  // One `enum` (not a union of constants): a wrong value is told the allowed values once.
  status: Type.Optional(
    Type.Unsafe<JobListStatus>({
      type: 'string',
      enum: [...JobListStatuses],
      description: '`retrying`: queued again after a failed attempt; `stuck`: running and flagged likely stuck',
    }),
  ),
  // A job id (time-ordered base36, then a random tail): anything else is refused, not read as a bound.
  cursor: Type.Optional(
    Type.String({ pattern: '^[0-9a-z]{12}[A-Za-z0-9_-]{8}$', description: 'The `next` of the previous page' }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});

export const JobSummarySchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: Type.String(),
  retrying: Type.Boolean(),
  likelyStuck: Type.Boolean(),
  attempt: Int,
  maxAttempts: Int,
  stage: Nullable(Type.String()),
  progress: Num,
  createdAt: Int,
  startedAt: Nullable(Int),
  finishedAt: Nullable(Int),
  promised: Type.Object({ p50Ms: Num, p90Ms: Num }, { description: 'The run time promised when the job started' }),
  runMs: Nullable(Int),
  error: Nullable(Type.String()),
  offset: Type.Integer({
    description: 'Offset of the job’s last event in its topic: of two rows of one job, the higher is the later',
  }),
});

export const JobFeedQuery = Type.Object({
  token: Type.Optional(
    Type.String({
      description:
        'Client token granting `admin` on `console`, for EventSource (never an API key: use the header); never logged',
    }),
  ),
});

export const JobListReply = Type.Object({
  jobs: Type.Array(JobSummarySchema),
  next: Nullable(Type.String({ description: 'Pass as `cursor` for older jobs; null when there are none' })),
});

export const JobTimelineReply = Type.Object({
  job: JobSnapshotSchema,
  events: Type.Array(
    Type.Object({
      offset: Int,
      at: Int,
      type: Type.String(),
      status: Type.String(),
      attempt: Int,
      stage: Nullable(Type.String()),
      progress: Num,
      measured: Type.Boolean(),
      message: Nullable(Type.String()),
      partial: Type.Optional(Type.Unknown()),
      retry: Type.Optional(Type.Object({ reason: Type.String(), inMs: Num })),
      error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
    }),
  ),
  truncated: Type.Boolean({ description: 'History no longer holds every event of the job' }),
  attempts: Type.Array(
    Type.Object({ attempt: Int, startedAt: Nullable(Int), endedAt: Nullable(Int), error: Nullable(Type.String()) }),
  ),
  eta: Type.Object({
    promisedP50Ms: Nullable(Num),
    promisedP90Ms: Nullable(Num),
    actualMs: Nullable(Int),
  }),
});

export const JobTypesReply = Type.Object({ types: Type.Array(JobTypeReply) });

export const JobTypeStatsReply = Type.Composite([
  JobTypeReply,
  Type.Object({
    durations: Type.Object({ binMs: Num, counts: Type.Array(Int), samples: Int }),
    recent: Type.Array(
      Type.Object({
        id: Type.String(),
        status: Type.String(),
        finishedAt: Int,
        waitMs: Nullable(Num),
        runMs: Nullable(Num),
        promisedP50Ms: Num,
        promisedP90Ms: Num,
      }),
    ),
    series: Type.Array(
      Type.Object({ at: Int, created: Int, succeeded: Int, failed: Int, cancelled: Int, queued: Int, running: Int }),
    ),
  }),
]);

const Histo = Type.Object({
  le: Type.Array(Num, { description: 'Bucket upper bounds, seconds' }),
  counts: Type.Array(Num, { description: 'Count per bucket (not cumulative); the last is above the largest bound' }),
  count: Num,
  sum: Num,
});

export const BudgetReply = Type.Object({
  cadenceMs: Int,
  nodes: Int,
  longestSilence: Histo,
  gaps: Histo,
  firstEvent: Histo,
});

const Counts = Type.Record(Type.String(), Num);

export const ActivityReply = Type.Object({
  nodes: Int,
  sampleMs: Int,
  connections: Counts,
  subscriptions: Int,
  series: Type.Array(
    Type.Object({
      at: Int,
      connections: Counts,
      subscriptions: Int,
      publications: Int,
      slowConsumerDrops: Int,
      rateLimited: Int,
    }),
  ),
  topics: Type.Array(Type.Object({ topic: Type.String(), publications: Int, subscribers: Int })),
  presence: Type.Array(Type.Object({ topic: Type.String(), members: Int, connections: Int })),
});

export const NodesReply = Type.Object({
  self: Type.String(),
  nodes: Type.Array(
    Type.Object({
      node: Type.String(),
      startedAt: Int,
      at: Int,
      reportAgeMs: Int,
      reporting: Type.Boolean({
        description: 'false once the last report is older than two report intervals (the node drops out after four)',
      }),
      ready: Type.Boolean(),
      connections: Counts,
      subscriptions: Int,
      rssBytes: Int,
      loadAverage: Num,
    }),
  ),
});

/**
 * The routes answer with the protocol's types, and the serializer writes only the fields a schema
 * names: each schema here names exactly the fields of its type (a field added to one side only
 * fails to compile).
 */
type SameFields<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
type Item<T> = T extends readonly (infer I)[] ? I : never;
type Timeline = Static<typeof JobTimelineReply>;
type Stats = Static<typeof JobTypeStatsReply>;
type Activity = Static<typeof ActivityReply>;
type Nodes = Static<typeof NodesReply>;
export const sameFields: [
  SameFields<JobSummary, Static<typeof JobSummarySchema>>,
  SameFields<JobList, Static<typeof JobListReply>>,
  SameFields<JobTimeline, Timeline>,
  SameFields<Item<JobTimeline['events']>, Item<Timeline['events']>>,
  SameFields<Item<JobTimeline['attempts']>, Item<Timeline['attempts']>>,
  SameFields<JobTimeline['eta'], Timeline['eta']>,
  SameFields<JobTypeInfo, Static<typeof JobTypeReply>>,
  SameFields<JobTypeStats, Stats>,
  SameFields<Item<JobTypeStats['recent']>, Item<Stats['recent']>>,
  SameFields<Item<JobTypeStats['series']>, Item<Stats['series']>>,
  SameFields<ConsoleBudget, Static<typeof BudgetReply>>,
  SameFields<HistoType, Static<typeof Histo>>,
  SameFields<ConsoleActivity, Activity>,
  SameFields<Item<ConsoleActivity['series']>, Item<Activity['series']>>,
  SameFields<ConsoleNodes, Nodes>,
  SameFields<Item<ConsoleNodes['nodes']>, Item<Nodes['nodes']>>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];
