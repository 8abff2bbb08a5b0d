import {
  jobTopic,
  type JobEvent,
  type JobList,
  type JobListStatus,
  type JobState,
  type JobStatus,
  type JobSummary,
  type JobTimeline,
  type JobTimelineEntry,
  type Json,
} from '@inloop/protocol';
import { Refusal } from '../../errors.js';
import type { Broker } from '../../ports/broker.js';
import type { JobRecord, JobStore } from '../../ports/job-store.js';
import type { JobService, StartedJob } from '../jobs/service.js';

/**
 * A job's row from its state (as an event carries it) and the offset of that event: all of a
 * {@link JobSummary} but the run time promised, which the state of an ended job no longer holds.
 */
export function jobRow(state: JobState, offset: number): Omit<JobSummary, 'promised'> {
  return {
    id: state.id,
    type: state.type,
    status: state.status,
    retrying: state.status === 'queued' && state.attempt > 0,
    likelyStuck: state.flags.likelyStuck,
    attempt: state.attempt,
    maxAttempts: state.maxAttempts,
    stage: state.stage?.name ?? null,
    progress: state.progress.fraction,
    createdAt: state.createdAt,
    startedAt: state.startedAt,
    finishedAt: state.finishedAt,
    runMs: state.finishedAt !== null && state.startedAt !== null ? state.finishedAt - state.startedAt : null,
    error: state.error ? `${state.error.code}: ${state.error.message}` : null,
    offset,
  };
}

/** Events read for a timeline at most. */
const TIMELINE_MAX_EVENTS = 2000;

/**
 * What an operator's console reads about jobs: listings by type and status, a job's timeline,
 * and a retry (a new job with the same type and input). Over the ports only, so on a cluster it
 * sees every node's jobs.
 */
export class JobViews {
  constructor(private readonly o: { store: JobStore; jobs: JobService; broker: Broker }) {}

  /** A page of jobs, newest first; `retrying` and `stuck` are read from queued and running records. */
  async list(query: {
    type?: string | undefined;
    status?: JobListStatus | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<JobList> {
    const stored: JobStatus | undefined =
      query.status === 'retrying' ? 'queued' : query.status === 'stuck' ? 'running' : query.status;
    const now = Date.now();
    const jobs: JobSummary[] = [];
    let before = query.cursor;
    // A derived status filters stored pages: read on until the page is full or a bound is met.
    for (let round = 0; round < 10; round++) {
      const page = await this.o.store.list({ type: query.type, status: stored, before, limit: query.limit });
      for (const record of page.jobs) {
        const summary = this.summary(record, now);
        if (query.status === 'retrying' && !summary.retrying) continue;
        if (query.status === 'stuck' && !summary.likelyStuck) continue;
        if (jobs.length < query.limit) jobs.push(summary);
      }
      before = page.next ?? undefined;
      if (!page.next || jobs.length >= query.limit) break;
    }
    const next = jobs.length >= query.limit ? jobs.at(-1)!.id : (before ?? null);
    return { jobs, next };
  }

  summary(record: JobRecord, now = Date.now()): JobSummary {
    return {
      ...jobRow(this.o.jobs.stateOf(record, now), record.lastOffset),
      promised: { p50Ms: record.estimate.p50Ms, p90Ms: record.estimate.p90Ms },
    };
  }

  /** The job's snapshot and its stored events from the start (null when there is no such job). */
  async timeline(id: string): Promise<JobTimeline | null> {
    let job = await this.o.jobs.snapshot(id);
    if (!job) return null;
    const events: JobTimelineEntry[] = [];
    let after = 0;
    let truncated = false;
    let sameEpoch = true;
    let told: JobEvent['job']['eta'] | undefined;
    // Events past the snapshot's offset: on a cluster a change's event is published just before
    // its record is saved, so a read between the two finds the event ahead of the snapshot.
    let ahead: JobEvent['job'] | undefined;
    const partialsAhead: Json[] = [];
    while (events.length < TIMELINE_MAX_EVENTS) {
      const page = await this.o.broker.history(jobTopic(id), after, 200);
      if (after === 0 && page.earliest > 1) truncated = true;
      if (page.epoch !== job.epoch) truncated = true;
      if (page.epoch !== job.epoch) sameEpoch = false;
      for (const p of page.publications) {
        const e = p.data as unknown as JobEvent;
        const s = e.job;
        if (p.offset === 1) told = s.eta;
        if (p.offset > job.offset) {
          ahead = s;
          if (e.type === 'job.partial' && e.partial !== undefined) partialsAhead.push(e.partial);
        }
        events.push({
          offset: p.offset,
          at: p.ts,
          type: e.type,
          status: s.status,
          attempt: s.attempt,
          stage: s.stage?.name ?? null,
          progress: s.progress.fraction,
          measured: s.progress.measured,
          message: s.message,
          ...(e.partial === undefined ? {} : { partial: e.partial }),
          ...(e.retry ? { retry: e.retry } : {}),
          ...(s.error ? { error: s.error } : {}),
        });
      }
      if (page.publications.length === 0 || after >= page.latest) break;
      after = page.publications.at(-1)!.offset;
      if (after >= page.latest) break;
    }
    if (events.length >= TIMELINE_MAX_EVENTS) truncated = true;
    // The newest event's state, so the status never reads older than the events shown with it.
    if (ahead && sameEpoch)
      job = {
        ...ahead,
        epoch: job.epoch,
        partials: [...job.partials, ...partialsAhead],
        offset: events.at(-1)!.offset,
      };
    return {
      job,
      events,
      truncated,
      attempts: attemptsOf(events),
      // The first event carries the ETA told with the 202: time left, the wait in line included.
      eta: {
        promisedP50Ms: told?.remainingMs ?? null,
        promisedP90Ms: told?.remainingP90Ms ?? told?.p90Ms ?? null,
        actualMs: job.finishedAt === null ? null : job.finishedAt - job.createdAt,
      },
    };
  }

  /**
   * Run an ended job again: a new job with its type, input and size, started as `POST /v1/jobs`
   * starts one (the same `idempotencyKey` gives the same new job).
   */
  async retry(id: string, by: string, idempotencyKey: string | null = null): Promise<StartedJob> {
    const record = await this.o.jobs.get(id);
    if (!record) throw new Refusal('not_found', 'no such job');
    if (record.status !== 'failed' && record.status !== 'cancelled' && record.status !== 'succeeded')
      throw new Refusal('job_not_finished', 'a job is retried once it has ended; cancel it first');
    return this.o.jobs.start({
      type: record.type,
      input: record.input,
      size: record.size,
      idempotencyKey,
      createdBy: by,
    });
  }
}

/** Attempts as the events tell them: each `job.started` opens one, a retry or a terminal event closes it. */
function attemptsOf(events: JobTimelineEntry[]): JobTimeline['attempts'] {
  const attempts: JobTimeline['attempts'] = [];
  for (const e of events) {
    const open = attempts.at(-1);
    if (e.type === 'job.started') attempts.push({ attempt: e.attempt, startedAt: e.at, endedAt: null, error: null });
    else if (
      open &&
      open.endedAt === null &&
      (e.type === 'job.retrying' || e.type === 'job.succeeded' || e.type === 'job.failed' || e.type === 'job.cancelled')
    ) {
      open.endedAt = e.at;
      open.error = e.retry?.reason ?? (e.error ? `${e.error.code}: ${e.error.message}` : null);
    }
  }
  return attempts;
}
