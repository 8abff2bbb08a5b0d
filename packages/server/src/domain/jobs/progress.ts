import { MAX_ESTIMATED, progressCurve, type JobProgress, type JobState, type WaitStrategy } from '@inloop/protocol';
import type { JobRecord } from '../../ports/job-store.js';
import type { Estimate } from './estimator.js';
import { curveFrom, remainingGiven, typicalRemaining } from './duration-model.js';

export { MAX_ESTIMATED };

/**
 * Progress implied by elapsed time against a typical duration: linear (elapsed / p50) up to 90 %,
 * then easing towards 99 % without ever reaching it, so a job that runs long keeps moving a
 * little instead of sitting at 100 %. The curve is the protocol's, which the UI kit also uses to
 * move the bar on between updates, so the two agree.
 */
export function timeFraction(elapsedMs: number, p50Ms: number): number {
  if (p50Ms <= 0) return 0;
  return progressCurve(Math.max(0, elapsedMs) / p50Ms);
}

/** The UI's wait strategy for a job with this estimate. */
export function strategyFor(estimate: Estimate): WaitStrategy {
  if (estimate.p90Ms < 1000) return 'instant';
  if (estimate.p50Ms > 30_000) return 'engage';
  return 'progress';
}

/**
 * Progress of a job at `now`. With a stage plan: weighted sum of finished stages plus the current
 * stage's share (measured if the worker reported it, else estimated from the stage's learned
 * duration, or the job's when the stage has none). Without a plan (stages or not): the measured
 * fraction, or the time-based one. Held below 1 until the job succeeds.
 */
export function progressOf(job: JobRecord, now: number): JobProgress {
  if (job.status === 'succeeded') return { fraction: 1, measured: true };
  if (job.status === 'queued' || job.startedAt === null) return { fraction: 0, measured: job.measured !== null };
  const measured = job.measured !== null;
  const end = job.finishedAt ?? now;
  let fraction: number;
  const total = job.plan?.reduce((sum, s) => sum + s.weight, 0) ?? 0;
  if (job.plan && job.stage && total > 0) {
    // A stage without history gets its weight's share of the job's typical duration.
    const stageP50 = job.stage.p50Ms ?? (job.estimate.p50Ms * job.stage.weight) / total;
    const within = job.measured ?? timeFraction(end - job.stage.startedAt, stageP50);
    fraction = (job.stageWeightDone + job.stage.weight * within) / total;
  } else {
    // No plan (none declared, or the stages reported did not follow it): the worker's fraction,
    // when it reports one, is the best measure there is of the whole; else elapsed time.
    fraction = job.measured ?? timeFraction(end - job.startedAt, job.estimate.p50Ms);
  }
  return { fraction: Math.min(MAX_ESTIMATED, Math.max(0, fraction)), measured };
}

/** Where a queued job stands in line (computed by the service's line; see line.ts). */
export interface LinePlace {
  position: number;
  /** Expected start (epoch ms), p50 and p90; null while no worker of the type has been seen. */
  startAt: number | null;
  startP90At: number | null;
  /** Expected end (epoch ms), p50 and p90, the wait and the run calibrated together; see line.ts. */
  doneAt?: number;
  doneP90At?: number;
}

/** How long until the job ends: p50 and p90 of the time left. */
export function remainingOf(
  job: JobRecord,
  now: number,
  progress: JobProgress,
  estimate: Estimate,
  place: LinePlace | null = null,
): { p50Ms: number; p90Ms: number } {
  if (job.status !== 'queued' && job.status !== 'running') return { p50Ms: 0, p90Ms: 0 };
  if (job.startedAt === null) {
    if (place?.doneAt !== undefined && place.doneP90At !== undefined)
      return { p50Ms: Math.max(0, place.doneAt - now), p90Ms: Math.max(0, place.doneAt - now, place.doneP90At - now) };
    // The wait in line (or for a retry's backoff), then the run.
    const wait = Math.max(0, (place?.startAt ?? job.runAfter) - now);
    const wait90 = Math.max(wait, (place?.startP90At ?? job.runAfter) - now);
    const spread = Math.hypot(wait90 - wait, estimate.p90Ms - estimate.p50Ms);
    return { p50Ms: Math.round(wait + estimate.p50Ms), p90Ms: Math.round(wait + estimate.p50Ms + spread) };
  }
  const elapsed = now - job.startedAt;
  // A measured fraction says more than history: extrapolate the rate seen so far.
  if (progress.measured && progress.fraction >= 0.05) {
    const p50Ms = Math.round((elapsed * (1 - progress.fraction)) / progress.fraction);
    return { p50Ms, p90Ms: Math.round((p50Ms * estimate.p90Ms) / Math.max(1, estimate.p50Ms)) };
  }
  // Without history (a type's default), from a lognormal through its p50 and p90: the same rules,
  // so the time left does not step up from "p50 minus elapsed" to "p90 minus elapsed" at p50.
  const curve =
    estimate.curve && estimate.curve.length > 1 ? estimate.curve : curveFrom(estimate.p50Ms, estimate.p90Ms);
  return remainingGiven(curve, elapsed, estimate.p50Ms, estimate.p90Ms);
}

/** How long until the job ends, best guess (p50). */
export function remainingMs(job: JobRecord, now: number, progress: JobProgress, estimate: Estimate): number {
  return remainingOf(job, now, progress, estimate).p50Ms;
}

/** Words a person understands for a duration: "about 4 min", "about 20 s". */
export function humanDuration(ms: number): string {
  if (ms < 1500) return 'a moment';
  if (ms < 60_000) return `about ${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `about ${Math.round(ms / 60_000)} min`;
  return `about ${(ms / 3_600_000).toFixed(1)} h`;
}

export interface Flags {
  slowerThanUsual: boolean;
  likelyStuck: boolean;
  /** What to tell the person when a flag is up. */
  message: string | null;
}

/**
 * "Slower than usual" past p90; "likely stuck" past twice p90 with no sign of life from the
 * worker for `stuckAfterMs`.
 */
export function flagsOf(job: JobRecord, now: number, estimate: Estimate, stuckAfterMs: number): Flags {
  if (job.status !== 'running' || job.startedAt === null)
    return { slowerThanUsual: false, likelyStuck: false, message: null };
  const elapsed = now - job.startedAt;
  const slower = elapsed > estimate.p90Ms;
  const silentMs = now - (job.lastSignAt ?? job.startedAt);
  const stuck = elapsed > 2 * estimate.p90Ms && silentMs > stuckAfterMs;
  const usual = estimate.source === 'default' ? '' : ` (jobs like this usually take ${humanDuration(estimate.p50Ms)})`;
  // Before p90, a run that outlived most of its kind is told so; one whose time left went up
  // (the remaining time is read from the runs that lasted this long) is told why.
  const behind = !slower && estimate.curve !== undefined && outlivedMost(estimate, elapsed);
  const message = stuck
    ? `This may be stuck: no sign of progress for ${humanDuration(silentMs).replace('about ', '')}.`
    : slower
      ? `Taking longer than usual${usual}.`
      : behind
        ? `Taking longer than most${usual}.`
        : null;
  return { slowerThanUsual: slower, likelyStuck: stuck, message };
}

/**
 * Whether the runs that lasted `elapsedMs` are expected to end clearly later than a typical run,
 * or the time left went up on the way here (see `typicalRemaining`).
 */
function outlivedMost(estimate: Estimate, elapsedMs: number): boolean {
  const left = typicalRemaining(estimate.curve!, elapsedMs, estimate.p50Ms);
  return left.rose || (elapsedMs > estimate.p50Ms && elapsedMs + left.ms > estimate.p50Ms * 1.25);
}

/** The wire state of a job at `now`. */
export function stateOf(job: JobRecord, now: number, stuckAfterMs: number, place: LinePlace | null = null): JobState {
  const estimate = job.estimate;
  const progress = progressOf(job, now);
  const left = remainingOf(job, now, progress, estimate, job.status === 'queued' ? place : null);
  const live = job.status === 'queued' || job.status === 'running';
  const flags = flagsOf(job, now, estimate, stuckAfterMs);
  const planIndex = job.stage && job.plan ? job.plan.findIndex((s) => s.name === job.stage!.name) : -1;
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    topic: `job:${job.id}`,
    stage: job.stage
      ? {
          name: job.stage.name,
          index: planIndex >= 0 ? planIndex : job.stage.index,
          ...(job.plan ? { count: job.plan.length, plan: job.plan.map((p) => p.name) } : {}),
        }
      : null,
    progress,
    eta: live
      ? {
          remainingMs: left.p50Ms,
          remainingP90Ms: left.p90Ms,
          p50Ms: estimate.p50Ms,
          p90Ms: estimate.p90Ms,
          basis: { source: estimate.source, samples: estimate.samples },
        }
      : null,
    flags: { slowerThanUsual: flags.slowerThanUsual, likelyStuck: flags.likelyStuck },
    ...(place && job.status === 'queued'
      ? {
          queue: {
            position: place.position,
            expectedStartAt: place.startAt,
            startsInMs: place.startAt === null ? null : Math.max(0, place.startAt - now),
          },
        }
      : {}),
    // The worker's own words, when it has said something this attempt, say more than the node's
    // about a run that is late (the flags still say it is); "may be stuck" is always the node's.
    message: flags.likelyStuck ? flags.message : (job.message ?? flags.message),
    ...(job.result === undefined ? {} : { result: job.result }),
    ...(job.error === undefined ? {} : { error: job.error }),
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    strategy: strategyFor(estimate),
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    elapsedMs: job.startedAt === null ? 0 : (job.finishedAt ?? now) - job.startedAt,
    cancelRequested: job.cancelRequested,
  };
}
